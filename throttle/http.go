package throttle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/httperr"
)

// HTTPGateway calls the gateway's throttle endpoint:
// PATCH with the Idempotency-Key of the decision, GET for the list. Each
// call is one attempt; the Controller bounds it with the timeout and
// retries with the same key.
type HTTPGateway struct {
	client   *http.Client
	endpoint string
}

// Answers larger than these are not a throttle answer or list.
const (
	maxAnswer = 1 << 20
	maxList   = 64 << 20
)

// NewHTTPGateway builds the client from the config's auth and TLS, which
// re-reads credentials_file and password_file per request as every
// Prometheus client does.
func NewHTTPGateway(g config.ThrottleGateway) (*HTTPGateway, error) {
	c, err := commoncfg.NewClientFromConfig(g.HTTPClientConfig(), "throttle", commoncfg.WithUserAgent("gatewarden-throttle"))
	if err != nil {
		return nil, fmt.Errorf("throttle gateway client: %w", err)
	}
	return NewHTTPGatewayClient(g.Endpoint(), c), nil
}

// NewHTTPGatewayClient uses c for endpoint (the full throttle URL).
func NewHTTPGatewayClient(endpoint string, c *http.Client) *HTTPGateway {
	return &HTTPGateway{client: c, endpoint: endpoint}
}

// GatewayError is a failed call: an answer other than 2xx, or no answer.
type GatewayError struct {
	StatusCode int    // 0: no answer (Err says why)
	Message    string // the gateway's {"error": ...}, or the body's start
	// RetryAfter is the wait a 429 or 503 asked for.
	RetryAfter time.Duration
	Err        error
}

func (e *GatewayError) Error() string {
	if e.StatusCode == 0 {
		return "gateway: " + e.Err.Error()
	}
	return fmt.Sprintf("gateway answered %d: %s", e.StatusCode, e.Message)
}

func (e *GatewayError) Unwrap() error { return e.Err }

// Unsupported reports a plugin without the throttle API (501), or an
// instance the gateway does not know (404): no retry can help, an
// operator must act.
func (e *GatewayError) Unsupported() bool {
	return e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusNotImplemented
}

// Temporary reports failures worth another attempt with the same key:
// no answer, 429, and 5xx other than 501.
func (e *GatewayError) Temporary() bool {
	return e.StatusCode == 0 || e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500 && e.StatusCode != http.StatusNotImplemented
}

type patchBody struct {
	TenantID       string  `json:"tenant_id"`
	PluginID       string  `json:"plugin_id"`
	InstanceID     string  `json:"instance_id"`
	MaxConcurrency int     `json:"max_concurrency"`
	TTLSeconds     float64 `json:"ttl_seconds"`
}

// Throttle sends one PATCH.
func (g *HTTPGateway) Throttle(ctx context.Context, r Request) (Applied, error) {
	body, err := json.Marshal(patchBody{r.TenantID, r.PluginID, r.InstanceID, r.MaxConcurrency, r.TTL.Seconds()})
	if err != nil {
		return Applied{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, g.endpoint, bytes.NewReader(body))
	if err != nil {
		return Applied{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	var a Applied
	resp, err := g.do(req, maxAnswer, &a)
	if err != nil {
		return Applied{}, err
	}
	a.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	// A gateway that answers 204 still applied what was asked.
	if a.Instance == (Instance{}) {
		a.Instance, a.MaxConcurrency, a.IdempotencyKey = r.Instance, r.MaxConcurrency, r.IdempotencyKey
	}
	return a, nil
}

// Throttles lists the throttles in force.
func (g *HTTPGateway) Throttles(ctx context.Context) ([]Applied, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.endpoint, nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Throttles []Applied `json:"throttles"`
	}
	if _, err := g.do(req, maxList, &list); err != nil {
		return nil, err
	}
	return list.Throttles, nil
}

// do sends req and decodes a 2xx JSON answer into v.
func (g *HTTPGateway) do(req *http.Request, limit int64, v any) (*http.Response, error) {
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, &GatewayError{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &GatewayError{Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &GatewayError{StatusCode: resp.StatusCode, Message: errorMessage(b), RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	if int64(len(b)) > limit {
		return nil, &GatewayError{StatusCode: resp.StatusCode, Message: fmt.Sprintf("answer exceeds %d bytes", limit)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return resp, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		// The call may have been applied: report it as retryable, and the
		// retry with the same key reads the stored answer.
		return nil, &GatewayError{Err: fmt.Errorf("malformed answer: %w", err)}
	}
	return resp, nil
}

func errorMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// retryAfter reads delay-seconds or an HTTP date; garbage is ignored (the
// backoff applies).
func retryAfter(v string) time.Duration {
	d, _ := httperr.RetryAfter(v, time.Now())
	return d
}

// classify names a failed attempt for the audit and the failure metric,
// and says whether another attempt with the same key may help.
func classify(err error) (reason string, retry, unsupported bool) {
	var ge *GatewayError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true, false
	case errors.As(err, &ge) && ge.Unsupported():
		return "unsupported", false, true
	case errors.As(err, &ge) && ge.StatusCode == 0:
		return "unreachable", true, false
	case errors.As(err, &ge) && ge.Temporary():
		return "unavailable", true, false
	case errors.As(err, &ge):
		return "rejected", false, false
	}
	return "error", true, false
}
