// Package feishu delivers notifications to a Feishu (Lark) custom bot: a
// signed, size-bounded interactive card (or plain text) per message, sent at
// most once per Notify and kept under the bot's rate limits.
package feishu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatewarden/gatewarden/internal/httperr"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

// Notifier sends messages to one bot. It is safe for concurrent use.
type Notifier struct {
	cfg     Config
	tmpl    *templates.Templates
	client  *http.Client
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	limiter *Limiter // nil: the process-wide limiter of the bot's URL
}

var _ message.Notifier = (*Notifier)(nil)

// Option configures a Notifier.
type Option func(*Notifier)

// WithClock sets the clock for signatures and rate limiting.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// WithSleep sets how Notify waits for the rate limiter; it must return
// ctx's error if ctx ends first. A test passes one that advances its clock.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(n *Notifier) { n.sleep = sleep }
}

// WithLimiter makes the Notifier count against l instead of the
// process-wide limiter kept per bot URL.
func WithLimiter(l *Limiter) Option { return func(n *Notifier) { n.limiter = l } }

// New validates cfg and returns a Notifier. tmpl nil means the default
// templates. client nil means a client that does not follow redirects: a
// bot URL answers directly, and a redirect would resend the signed body
// elsewhere.
func New(cfg *Config, tmpl *templates.Templates, client *http.Client, opts ...Option) (*Notifier, error) {
	if cfg == nil {
		return nil, errors.New("feishu: no config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("feishu: %w", err)
	}
	if tmpl == nil {
		tmpl = templates.Default()
	}
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n := &Notifier{cfg: *cfg, tmpl: tmpl, client: client, now: time.Now, sleep: sleep}
	for _, o := range opts {
		o(n)
	}
	return n, nil
}

// Notify sends m as one request. It never retries by itself, so one call
// is at most one message in the chat; retry says whether the caller should
// try again: true only when Feishu did not (or may not) take the message.
// Reaching the bot's rate limit, Notify waits for a slot until ctx ends.
func (n *Notifier) Notify(ctx context.Context, m *message.Message) (retry bool, err error) {
	if m == nil || m.Data == nil {
		return false, errors.New("feishu: empty message")
	}
	target, err := n.cfg.webhook()
	if err != nil {
		return false, fmt.Errorf("feishu: %w", err)
	}
	secret, err := n.cfg.secret()
	if err != nil {
		return false, fmt.Errorf("feishu: %w", err)
	}
	p, err := n.payload(m)
	if err != nil {
		return false, fmt.Errorf("feishu: render: %w", err)
	}
	lim := n.limiter
	if lim == nil {
		lim = limiterFor(target)
	}
	now, err := n.wait(ctx, lim)
	if err != nil {
		return true, fmt.Errorf("feishu: waiting for the bot's rate limit: %w", err)
	}
	// Signed after the wait, so the timestamp is the moment of sending.
	if secret != "" {
		p.Timestamp = strconv.FormatInt(now.Unix(), 10)
		p.Sign = Sign(p.Timestamp, secret)
	}
	body, err := encode(p)
	if err != nil {
		return false, fmt.Errorf("feishu: encode: %w", err)
	}
	return n.post(ctx, target, body, lim)
}

// wait takes a rate-limit slot and returns when it was taken. It gives up
// at once when the slot would come after ctx's deadline: sleeping until
// then would only delay the retry.
func (n *Notifier) wait(ctx context.Context, lim *Limiter) (time.Time, error) {
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		now, d := lim.reserve(n.now)
		if d == 0 {
			return now, nil
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return time.Time{}, fmt.Errorf("next slot in %s, after the deadline: %w", d, context.DeadlineExceeded)
		}
		if err := n.sleep(ctx, d); err != nil {
			return time.Time{}, err
		}
	}
}

// maxResponse bounds what is read of a response: Feishu's are tiny.
const maxResponse = 64 << 10

func (n *Notifier) post(ctx context.Context, target *url.URL, body []byte, lim *Limiter) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return false, redact(err, target)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "gatewarden")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, redact(err, target)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		// The status arrived but not Feishu's verdict: it may have sent.
		return true, redact(err, target)
	}
	retry, err := classify(resp.StatusCode, b)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RateLimited() {
		// Feishu counts more than we do (other senders to the same bot):
		// hold every sender of this process, not only this message.
		lim.pause(n.now(), retryAfter(resp.Header, n.now()))
	}
	return retry, err
}

// retryAfter reads Retry-After, one second when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := httperr.RetryAfter(h.Get("Retry-After"), now); ok {
		return d
	}
	return time.Second
}
