package webhook

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// DefaultTimeout bounds one delivery when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// Config is one webhook destination. The same struct is read from
// gatewarden.yml and from a channel's JSON in the store, hence both tags.
//
// The URL, the secret and header values are commoncfg.Secret: marshalling a
// Config (an API response, a config dump) writes "<secret>" instead of them,
// because webhook URLs routinely carry tokens and headers carry credentials.
type Config struct {
	URL        commoncfg.Secret            `yaml:"url,omitempty" json:"url,omitempty"`
	URLFile    string                      `yaml:"url_file,omitempty" json:"url_file,omitempty"`
	Headers    map[string]commoncfg.Secret `yaml:"headers,omitempty" json:"headers,omitempty"`
	Secret     commoncfg.Secret            `yaml:"secret,omitempty" json:"secret,omitempty"`
	SecretFile string                      `yaml:"secret_file,omitempty" json:"secret_file,omitempty"`
	Timeout    yamlfile.Duration           `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// MaxAlerts caps the alerts in one body, as Alertmanager's webhook
	// max_alerts does; the rest are counted in truncatedAlerts. 0 is no cap.
	MaxAlerts uint64 `yaml:"max_alerts,omitempty" json:"max_alerts,omitempty"`
	// URLPublic lets the admin API show the URL whole; otherwise its path
	// and query are "<secret>" (RedactURL), where providers put tokens.
	URLPublic bool `yaml:"url_public,omitempty" json:"url_public,omitempty"`
}

// FieldError is one problem with one field. Path holds the keys from the
// webhook config down to the field (["headers", "X-Token"]), so the config
// loader can point at the line. Msg never quotes a secret value.
type FieldError struct {
	Path []string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path[0] + ": " + e.Msg }

// FieldErrors is every problem Validate found, in field order.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// reserved headers are set by Notify; letting the config override them would
// break the body's framing or the signature receivers check.
var reserved = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true,
	"Transfer-Encoding": true, "Connection": true, "Host": true,
	HeaderTimestamp: true, HeaderSignature: true,
}

// Validate reports every problem of c as FieldErrors, or nil. It does not
// read url_file or secret_file: they are read at send time, so a file may
// appear (or be rotated) after the config loads.
func (c *Config) Validate() error {
	var errs FieldErrors
	add := func(msg string, path ...string) { errs = append(errs, &FieldError{Path: path, Msg: msg}) }

	switch {
	case c.URL != "" && c.URLFile != "":
		add("at most one of url and url_file may be set", "url")
	case c.URL == "" && c.URLFile == "":
		add("one of url and url_file is required", "url")
	case c.URL != "":
		if _, err := parseURL(string(c.URL)); err != nil {
			add(err.Error(), "url")
		}
	}
	if c.Secret != "" && c.SecretFile != "" {
		add("at most one of secret and secret_file may be set", "secret")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		switch {
		case !validHeaderName(name):
			add(fmt.Sprintf("%q is not a valid header name", name), "headers", name)
		case reserved[http.CanonicalHeaderKey(name)]:
			add(fmt.Sprintf("%s is set by gatewarden and may not be configured", http.CanonicalHeaderKey(name)), "headers", name)
		case !validHeaderValue(string(c.Headers[name])):
			add(fmt.Sprintf("the value of %s contains a control character", name), "headers", name)
		}
	}
	if c.Timeout < 0 {
		add("must not be negative", "timeout")
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// parseURL checks a webhook URL. Its errors never quote the URL, nor
// url.Parse's detail: both can carry a token.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue rejects the bytes that would let a value end its header
// line; net/http would refuse the request at send time otherwise.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
