// Package email delivers notifications by SMTP, configured as
// Alertmanager's email_config: a smarthost, STARTTLS required by default
// (implicit TLS on port 465), AUTH PLAIN or LOGIN, and a
// multipart/alternative message with the text and HTML templates of
// receiver/templates.
package email

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

// Notifier sends to one email channel. It is safe for concurrent use: each
// Notify runs its own SMTP connection.
type Notifier struct {
	cfg      Config
	tmpl     *templates.Templates
	host     string // the smarthost's, for TLS and the AUTH rule
	implicit bool
	hello    string
	from     *mail.Address
	to       []*mail.Address
	domain   string // the sender's, for Message-Id

	now  func() time.Time
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

var _ message.Notifier = (*Notifier)(nil)

// Option adjusts a Notifier, mostly for tests.
type Option func(*Notifier)

// WithClock sets the clock the Date header and Message-Id read.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// WithHostname sets the name sent in EHLO when the config has no `hello`;
// the default is os.Hostname.
func WithHostname(name string) Option { return func(n *Notifier) { n.hello = name } }

// WithDialer replaces the TCP dialer, to go through a proxy or, in tests,
// to reach a local server under a remote name.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(n *Notifier) { n.dial = dial }
}

// New checks cfg and keeps a copy of it, so later changes to cfg do not
// race with deliveries. A nil tmpl means the embedded defaults.
func New(cfg *Config, tmpl *templates.Templates, opts ...Option) (*Notifier, error) {
	if cfg == nil {
		return nil, errors.New("email: no config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if tmpl == nil {
		tmpl = templates.Default()
	}
	n := &Notifier{cfg: *cfg, tmpl: tmpl, now: time.Now, dial: (&net.Dialer{}).DialContext}
	// Validate has parsed all three; the errors cannot recur.
	n.from, _ = mail.ParseAddress(cfg.From)
	n.to, _ = mail.ParseAddressList(cfg.To)
	host, port, _ := splitSmarthost(cfg.Smarthost)
	n.host = host
	n.implicit = cfg.TLS == TLSImplicit || port == 465
	n.domain = n.from.Address[strings.LastIndex(n.from.Address, "@")+1:]

	n.hello = "localhost"
	if h, err := os.Hostname(); err == nil && h != "" {
		n.hello = h
	}
	for _, o := range opts {
		o(n)
	}
	if cfg.Hello != "" {
		n.hello = cfg.Hello
	}
	return n, nil
}

// Notify sends m. retry is true for failures another attempt may not meet
// (4xx replies, network errors, timeouts) and false for those it would
// (5xx replies, a rejected password, a server without the required TLS).
// The password appears in no error, whatever the server replies.
func (n *Notifier) Notify(ctx context.Context, m *message.Message) (retry bool, err error) {
	if m == nil || m.Data == nil {
		return false, errors.New("email: empty message")
	}
	body, err := n.compose(m)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	creds, err := n.readCredentials()
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	env := &envelope{from: n.from.Address, body: body}
	for _, a := range n.to {
		env.to = append(env.to, a.Address)
	}
	err = n.deliver(ctx, env, creds)
	if err == nil {
		return false, nil
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		// The I/O error alone ("i/o timeout") would hide who gave up.
		err = fmt.Errorf("%w: %w", cause, err)
	}
	return retryable(err), creds.redact(fmt.Errorf("email: %s: %w", n.cfg.Smarthost, err))
}
