// Package webhook delivers notifications as signed HTTP POSTs. The body is
// Alertmanager's webhook payload (version "4") with gatewarden's fields
// beside it, so any Alertmanager webhook consumer reads it; with a secret,
// each request carries an HMAC-SHA256 signature over a timestamp and the
// body (see Sign and Verify, and docs/webhook.md).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/gatewarden/gatewarden/internal/httperr"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

// Notifier posts messages to one webhook. It is safe for concurrent use.
type Notifier struct {
	cfg       Config
	client    *http.Client
	timeout   time.Duration
	now       func() time.Time
	userAgent string
}

var _ message.Notifier = (*Notifier)(nil)

// Option changes a Notifier built by New.
type Option func(*Notifier)

// WithClock sets the clock that stamps signatures and reads an HTTP-date
// Retry-After, so tests can pin both.
func WithClock(now func() time.Time) Option {
	return func(n *Notifier) { n.now = now }
}

// New checks cfg and returns its Notifier. The templates are taken so every
// integration is built alike; a webhook sends data, not prose, and renders
// none. A nil client gets a default that does not follow redirects: a
// signed POST re-sent to wherever a Location points would hand the
// signature and the configured headers to another host, so a 3xx is
// reported as a failure instead.
func New(cfg *Config, _ *templates.Templates, client *http.Client, opts ...Option) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Notifier{
		cfg:       *cfg,
		client:    client,
		timeout:   time.Duration(cfg.Timeout),
		now:       time.Now,
		userAgent: "gatewarden/" + version.Version,
	}
	// The caller keeps its Config; a later edit of its map must not race
	// with deliveries.
	n.cfg.Headers = maps.Clone(cfg.Headers)
	if n.timeout == 0 {
		n.timeout = DefaultTimeout
	}
	if version.Version == "" {
		n.userAgent = "gatewarden/unknown"
	}
	if n.client == nil {
		n.client = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

// Notify posts m. A failure is retryable (retry=true) when another attempt
// may succeed: a network error, a timeout, a 429 or a 5xx, or a url_file or
// secret_file that cannot be read (it may be mid-rotation). Other responses,
// and a file whose content is unusable, are permanent. When the response
// carries Retry-After the error is a *RetryAfterError. No error holds the
// URL's path or query, the secret or a header value.
func (n *Notifier) Notify(ctx context.Context, m *message.Message) (bool, error) {
	if m == nil || m.Data == nil {
		return false, errors.New("webhook: message has no data")
	}
	body, err := json.Marshal(n.payload(m))
	if err != nil {
		return false, fmt.Errorf("webhook: encode message: %w", err)
	}
	u, retry, err := n.url()
	if err != nil {
		return retry, err
	}
	secret, retry, err := n.secret()
	if err != nil {
		return retry, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := n.request(ctx, u, body, secret, m.ID)
	if err != nil {
		return false, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		timedOut := ctx.Err() != nil && parent.Err() == nil
		return true, n.transportError(err, u, secret, timedOut)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		resp.Body.Close()
	}()
	return n.check(resp, u, secret)
}

// payload is m as sent: truncated to max_alerts, with the version and kind
// spelled out for consumers. m itself is left alone, since the outbox may
// hand the same message to other channels or retry it.
func (n *Notifier) payload(m *message.Message) *message.Message {
	p, data := *m, *m.Data
	p.Data = &data
	if p.Version == "" {
		p.Version = message.Version
	}
	if p.Kind == "" {
		p.Kind = message.KindAlert
	}
	if limit := n.cfg.MaxAlerts; limit > 0 && uint64(len(data.Alerts)) > limit {
		p.TruncatedAlerts += uint64(len(data.Alerts)) - limit
		data.Alerts = data.Alerts[:limit]
	}
	return &p
}

// url returns the destination, reading url_file on every call so that a
// rotated URL takes effect without a reload.
func (n *Notifier) url() (*url.URL, bool, error) {
	raw, field := string(n.cfg.URL), "url"
	if n.cfg.URLFile != "" {
		field = "url_file"
		s, retry, err := readSecretFile(n.cfg.URLFile, "url_file")
		if err != nil {
			return nil, retry, err
		}
		raw = s
	}
	u, err := parseURL(raw)
	if err != nil {
		return nil, false, fmt.Errorf("webhook: %s: %w", field, err)
	}
	return u, false, nil
}

// secret returns the signing secret, "" for unsigned deliveries, reading
// secret_file on every call as url does.
func (n *Notifier) secret() (string, bool, error) {
	if n.cfg.SecretFile == "" {
		return string(n.cfg.Secret), false, nil
	}
	return readSecretFile(n.cfg.SecretFile, "secret_file")
}

// readSecretFile trims surrounding whitespace, as Prometheus does for its
// *_file secrets: editors and `echo` leave a newline behind.
func readSecretFile(path, field string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", true, fmt.Errorf("webhook: %s: %w", field, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", false, fmt.Errorf("webhook: %s: %s is empty", field, path)
	}
	return s, false, nil
}

func (n *Notifier) request(ctx context.Context, u *url.URL, body []byte, secret string, id int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		// The error would quote the URL; it parsed once, so this is rare.
		return nil, errors.New("webhook: cannot build the request")
	}
	req.Header.Set("User-Agent", n.userAgent)
	for k, v := range n.cfg.Headers {
		req.Header.Set(k, string(v))
	}
	req.Header.Set("Content-Type", "application/json")
	if id != 0 {
		req.Header.Set(HeaderNotification, strconv.FormatInt(id, 10))
	}
	if secret != "" {
		ts := strconv.FormatInt(n.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign([]byte(secret), ts, body))
	}
	return req, nil
}

// transportError names the destination by origin alone, the URL's
// secrets scrubbed from whatever a layer below quoted.
func (n *Notifier) transportError(err error, u *url.URL, secret string, timedOut bool) error {
	r := newRedactor(u, secret, n.cfg.Headers)
	return httperr.Transport("webhook: POST", u, err, func(msg string) string {
		msg = r.text(msg)
		if timedOut {
			msg += fmt.Sprintf(" (timeout %s)", n.timeout)
		}
		return msg
	})
}

// check classifies a response: 2xx is delivered, 429 and 5xx are worth
// another attempt (after Retry-After, when given), anything else is
// permanent: the receiver rejected this request and will reject it again.
func (n *Notifier) check(resp *http.Response, u *url.URL, secret string) (bool, error) {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return false, nil
	}
	r := newRedactor(u, secret, n.cfg.Headers)
	serr := &StatusError{Origin: httperr.Origin(u), StatusCode: code, Body: readExcerpt(resp.Body, r)}
	if code != http.StatusTooManyRequests && (code < 500 || code > 599) {
		return false, serr
	}
	if d, ok := httperr.RetryAfter(resp.Header.Get("Retry-After"), n.now()); ok {
		return true, &RetryAfterError{After: d, Err: serr}
	}
	return true, serr
}
