package email

import (
	"errors"
	"fmt"
	tmplhtml "html/template"
	"maps"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	tmpltext "text/template"
	"time"

	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// DefaultTimeout bounds one whole delivery (dial, TLS, dialog), as
// Alertmanager's notifier timeout would: a stuck relay must not hold the
// outbox worker.
const DefaultTimeout = 30 * time.Second

// TLSImplicit selects TLS from the first byte (SMTPS, "port 465" style).
const TLSImplicit = "implicit"

// Config is one email channel. The same struct is read from gatewarden.yml
// and from a channel's JSON config in the store, hence both tag sets. Field
// names follow Alertmanager's email_config.
type Config struct {
	// To is a comma-separated address list, as Alertmanager's `to`:
	// "ops@example.com, Oncall <oncall@example.com>".
	To   string `yaml:"to" json:"to"`
	From string `yaml:"from" json:"from"`
	// Smarthost is host:port of the relay.
	Smarthost string `yaml:"smarthost" json:"smarthost"`
	// Hello is the EHLO name; empty means this host's name.
	Hello string `yaml:"hello,omitempty" json:"hello,omitempty"`

	AuthUsername     string           `yaml:"auth_username,omitempty" json:"auth_username,omitempty"`
	AuthPassword     commoncfg.Secret `yaml:"auth_password,omitempty" json:"auth_password,omitempty"`
	AuthPasswordFile string           `yaml:"auth_password_file,omitempty" json:"auth_password_file,omitempty"`
	AuthIdentity     string           `yaml:"auth_identity,omitempty" json:"auth_identity,omitempty"`

	// RequireTLS makes STARTTLS mandatory; nil means true, as in
	// Alertmanager. False sends in plain text, STARTTLS or not.
	RequireTLS *bool `yaml:"require_tls,omitempty" json:"require_tls,omitempty"`
	// TLS is empty or "implicit". Port 465 is implicit TLS either way.
	TLS       string    `yaml:"tls,omitempty" json:"tls,omitempty"`
	TLSConfig TLSConfig `yaml:"tls_config,omitempty" json:"tls_config,omitempty"`

	// Headers are added to every message; values are templates. Subject
	// replaces the default title; From and To replace the displayed
	// addresses, not the envelope.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// HTML and Text are the bodies' templates; empty means the defaults
	// of receiver/templates.
	HTML string `yaml:"html,omitempty" json:"html,omitempty"`
	Text string `yaml:"text,omitempty" json:"text,omitempty"`

	// Timeout bounds one delivery; zero means DefaultTimeout.
	Timeout yamlfile.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// TLSConfig verifies the relay's certificate.
type TLSConfig struct {
	// CAFile is read at every delivery, so a rotated CA needs no reload.
	CAFile             string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty" json:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

// FieldError is one problem of a Config, at a path of keys from the
// channel's config, so a loader can point at the YAML line.
type FieldError struct {
	Path []any
	Msg  string
}

func (e *FieldError) Error() string {
	p := make([]string, len(e.Path))
	for i, k := range e.Path {
		p[i] = fmt.Sprint(k)
	}
	return strings.Join(p, ".") + ": " + e.Msg
}

// reservedHeaders shape the MIME structure or identify the message; a
// user's value would break either.
var reservedHeaders = []string{"Content-Type", "Content-Transfer-Encoding", "Mime-Version", "Date", "Message-Id"}

// Validate reports every problem at once, each a *FieldError joined with
// errors.Join. It reads no file: *_file fields are read at send time.
func (c *Config) Validate() error {
	var errs []error
	add := func(msg string, path ...any) { errs = append(errs, &FieldError{Path: path, Msg: msg}) }

	switch {
	case strings.TrimSpace(c.To) == "":
		add("missing recipient address", "to")
	default:
		if _, err := mail.ParseAddressList(c.To); err != nil {
			add(fmt.Sprintf("invalid address list %q: %v", c.To, err), "to")
		}
	}
	switch {
	case c.From == "":
		add("missing sender address", "from")
	default:
		if _, err := mail.ParseAddress(c.From); err != nil {
			add(fmt.Sprintf("invalid address %q: %v", c.From, err), "from")
		}
	}
	if _, _, err := splitSmarthost(c.Smarthost); err != nil {
		add(err.Error(), "smarthost")
	}
	if strings.ContainsAny(c.Hello, " \t\r\n") {
		add(fmt.Sprintf("invalid EHLO name %q", c.Hello), "hello")
	}

	hasPassword := c.AuthPassword != "" || c.AuthPasswordFile != ""
	switch {
	case c.AuthPassword != "" && c.AuthPasswordFile != "":
		add("at most one of auth_password and auth_password_file may be set", "auth_password")
	case hasPassword && c.AuthUsername == "":
		add("auth_username is required with a password", "auth_username")
	case !hasPassword && c.AuthUsername != "":
		add("auth_password or auth_password_file is required with auth_username", "auth_username")
	}

	if c.TLS != "" && c.TLS != TLSImplicit {
		add(fmt.Sprintf("invalid value %q: leave empty (STARTTLS, implicit on port 465) or set %q", c.TLS, TLSImplicit), "tls")
	}
	if c.Timeout < 0 {
		add("must not be negative", "timeout")
	}

	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		value := c.Headers[name]
		if msg := checkHeaderName(name); msg != "" {
			add(msg, "headers", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if other, dup := seen[canon]; dup {
			add(fmt.Sprintf("same header as %q (names ignore case)", other), "headers", name)
		}
		seen[canon] = name
		if err := parseTemplate(value, false); err != nil {
			add(err.Error(), "headers", name)
		}
	}
	if err := parseTemplate(c.Text, false); err != nil {
		add(err.Error(), "text")
	}
	if err := parseTemplate(c.HTML, true); err != nil {
		add(err.Error(), "html")
	}
	return errors.Join(errs...)
}

// ResolvePaths hands each file name to join, as the config loader anchors
// relative names at the config file's directory.
func (c *Config) ResolvePaths(join func(*string)) {
	join(&c.AuthPasswordFile)
	join(&c.TLSConfig.CAFile)
}

func (c *Config) requireTLS() bool { return c.RequireTLS == nil || *c.RequireTLS }

func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

func splitSmarthost(s string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("invalid smarthost %q: want host:port", s)
	}
	port, err = strconv.Atoi(p)
	if h == "" || err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("invalid smarthost %q: want host:port with a port number", s)
	}
	return h, port, nil
}

func checkHeaderName(name string) string {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) {
		return fmt.Sprintf("invalid header name %q", name)
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	for _, r := range reservedHeaders {
		if canon == r {
			return fmt.Sprintf("header %s is set by gatewarden", canon)
		}
	}
	return ""
}

// parseTemplate catches syntax errors when the config loads rather than at
// the first alert. Templates named in it may live in template files, which
// only execution resolves.
func parseTemplate(text string, html bool) error {
	if text == "" {
		return nil
	}
	var err error
	if html {
		_, err = tmplhtml.New("").Funcs(tmplhtml.FuncMap(template.DefaultFuncs)).Parse(text)
	} else {
		_, err = tmpltext.New("").Funcs(tmpltext.FuncMap(template.DefaultFuncs)).Parse(text)
	}
	return err
}
