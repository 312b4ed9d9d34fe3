package webhook

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// excerptLimit bounds the response body quoted in an error: enough for an
// API's error message, too little to flood a log or the delivery history.
const excerptLimit = 256

// excerptRead is how much of a failed response is read for its excerpt;
// more than excerptLimit so that a secret near the cut is still recognised.
const excerptRead = 4 << 10

// drainLimit is how much of a response is read (and discarded) so the
// connection can be reused; a longer body costs a new connection instead.
const drainLimit = 64 << 10

// StatusError is a response outside 2xx.
type StatusError struct {
	// Origin is the destination's scheme://host, never its path or query.
	Origin     string
	StatusCode int
	// Body is at most 256 bytes of the response, with the request's
	// secrets (URL path and query, signing secret, header values) redacted.
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("webhook: POST %s: %d %s", e.Origin, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		s += fmt.Sprintf(": %q", e.Body)
	}
	return s
}

// RetryAfterError is a retryable failure whose response said when to try
// again (a Retry-After header on a 429 or 5xx). The outbox should wait After
// before the next attempt, capped by its own maximum backoff. It can find it
// with errors.As, or through the RetryAfter method without importing this
// package.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns After.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.After }

// readExcerpt reads a failed response's body for its error.
func readExcerpt(body io.Reader, r *redactor) string {
	b, _ := io.ReadAll(io.LimitReader(body, excerptRead+1))
	complete := len(b) <= excerptRead
	if !complete {
		b = b[:excerptRead]
	}
	return strings.TrimSpace(r.excerpt(b, complete))
}
