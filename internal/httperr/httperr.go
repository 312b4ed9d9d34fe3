// Package httperr is what the HTTP clients of gatewarden's integrations
// share in their errors: a destination named by its origin alone, a failed
// round trip reported without the URL, and the Retry-After of an answer.
package httperr

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Origin names a destination in errors: the path and query may hold a
// token, the host does not.
func Origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// transportError stands in for the *url.Error of a failed round trip,
// whose text and URL field hold the whole URL, with a redacted message;
// the cause stays reachable for errors.Is (context.DeadlineExceeded,
// net.Error).
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// Transport reports a failed round trip to u as "<what> <origin>: <cause>".
// scrub cleans the cause's text of what a layer below may still quote (the
// path, secrets); nil leaves it.
func Transport(what string, u *url.URL, err error, scrub func(string) string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if scrub != nil {
		msg = scrub(msg)
	}
	return &transportError{msg: what + " " + Origin(u) + ": " + msg, err: err}
}

// RetryAfter parses a Retry-After value, delta-seconds or an HTTP-date. A
// value that asks for no wait (0, a past date) or does not parse is not
// reported: the caller's own backoff applies.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 || secs > math.MaxInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	return d, d > 0
}
