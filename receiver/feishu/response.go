package feishu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatewarden/gatewarden/internal/httperr"
)

// Feishu's codes for a refusal that resending cannot cure. Other nonzero
// codes are permanent too (a malformed card stays malformed) unless the
// HTTP status is 5xx; these are permanent even then.
const (
	CodeSignMismatch    = 19021 // sign match fail, or timestamp over an hour off
	CodeKeywordMismatch = 19024 // keyword or IP allowlist not satisfied
)

// Feishu's codes for "too fast": 9499 "too many request", and the 11232
// and 11233 frequency limits.
const codeTooManyRequests = 9499

var rateLimitCodes = map[int]bool{codeTooManyRequests: true, 11232: true, 11233: true}

// APIError is a message Feishu answered but did not take.
type APIError struct {
	StatusCode int    // HTTP status
	Code       int    // Feishu's code, 0 when the body had none
	Msg        string // Feishu's msg, or what was wrong with the body
}

func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("feishu: code %d: %s (HTTP %d)", e.Code, e.Msg, e.StatusCode)
	}
	return fmt.Sprintf("feishu: HTTP %d: %s", e.StatusCode, e.Msg)
}

// RateLimited reports whether Feishu refused the message for its rate.
func (e *APIError) RateLimited() bool {
	if e.Code == codeTooManyRequests && strings.Contains(strings.ToLower(e.Msg), "bad request") {
		// Feishu also answers a malformed body with 9499 "Bad Request";
		// sending it again cannot help.
		return false
	}
	return rateLimitCodes[e.Code] || e.StatusCode == http.StatusTooManyRequests
}

// response is both of Feishu's shapes: {"code","msg","data"} now,
// {"StatusCode","StatusMessage","Extra"} from older endpoints.
type response struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// classify turns Feishu's answer into Notify's result. Feishu reports most
// failures with HTTP 200 and a code, some (rate limits) with 4xx and a code,
// so the code decides first and the HTTP status second.
func classify(status int, body []byte) (retry bool, err error) {
	var r response
	parsed := json.Unmarshal(body, &r) == nil
	e := &APIError{StatusCode: status}
	switch {
	case parsed && r.Code != nil:
		e.Code, e.Msg = *r.Code, r.Msg
	case parsed && r.StatusCode != nil:
		e.Code, e.Msg = *r.StatusCode, r.StatusMessage
	default:
		// A raw body is not quoted: a proxy's error page may echo the
		// request path, which holds the token.
		e.Msg = fmt.Sprintf("response without Feishu's code (%d bytes)", len(body))
		return status >= 500 || status == http.StatusTooManyRequests, e
	}
	ok := status >= 200 && status < 300
	switch {
	case e.Code == 0 && ok:
		return false, nil
	case e.RateLimited():
		return true, e
	case e.Code == CodeSignMismatch, e.Code == CodeKeywordMismatch:
		return false, e
	case status >= 500:
		return true, e
	case e.Code == 0:
		e.Msg = "success code with HTTP error status"
	}
	return false, e
}

// redact reports err against scheme://host only. The inner error is kept
// for errors.Is (context.DeadlineExceeded); its text is scrubbed too, in
// case a layer below quoted the URL as well.
func redact(err error, u *url.URL) error {
	return httperr.Transport("feishu: post", u, err, func(msg string) string {
		for _, s := range []string{u.String(), u.EscapedPath(), u.Path, u.RawQuery} {
			if len(s) > 1 {
				msg = strings.ReplaceAll(msg, s, "<redacted>")
			}
		}
		return msg
	})
}
