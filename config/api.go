package config

import (
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// API roles: a read token sees everything, an ingest token may also post
// alerts and write silences (what a Prometheus, an Alertmanager or amtool
// does), an admin token may change everything.
const (
	RoleAdmin  = "admin"
	RoleIngest = "ingest"
	RoleRead   = "read"
)

// DefaultAPIMaxBodySize bounds an admin API request body; alerts and
// channels are small, so anything larger is a mistake or an attack.
const DefaultAPIMaxBodySize = 1 << 20

// APIConfig configures the admin API (/admin/...) on the web listener.
type APIConfig struct {
	// Tokens are the bearer tokens the admin API accepts. With none, the
	// API is open to anyone who reaches the listener, as Alertmanager's is
	// (--web.config.file can still require basic auth or TLS).
	Tokens      []APIToken `yaml:"tokens"`
	MaxBodySize Bytes      `yaml:"max_body_size"`
}

// APIToken is one bearer token, read from a file at load and reload so the
// secret stays out of the config.
type APIToken struct {
	Name      string `yaml:"name"`
	TokenFile string `yaml:"token_file"`
	Role      string `yaml:"role"`

	token []byte
}

// Role returns the role of the token a request presented, "" if none
// matches.
func (c *APIConfig) Role(presented string) string {
	_, role := c.Lookup(presented)
	return role
}

// Lookup returns the name and role of the token a request presented, ""
// if none matches. Every configured token is compared in constant time so
// the answer's timing says nothing about which prefix matched.
func (c *APIConfig) Lookup(presented string) (name, role string) {
	for i := range c.Tokens {
		t := &c.Tokens[i]
		if subtle.ConstantTimeCompare(t.token, []byte(presented)) == 1 && role == "" {
			name, role = t.Name, t.Role
		}
	}
	return name, role
}

// Open reports whether the API runs without tokens.
func (c *APIConfig) Open() bool { return len(c.Tokens) == 0 }

func (c *APIConfig) applyDefaults() {
	if c.MaxBodySize == 0 {
		c.MaxBodySize = DefaultAPIMaxBodySize
	}
}

func (c *APIConfig) resolvePaths(join func(*string)) {
	for i := range c.Tokens {
		join(&c.Tokens[i].TokenFile)
	}
}

// validate reads the token files: a missing or empty one fails the load
// rather than leaving an operator locked out after a reload.
func (c *APIConfig) validate(path ...any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, p ...any) {
		errs = append(errs, yamlfile.At(msg, append(append([]any{}, path...), p...)...))
	}
	if c.MaxBodySize < 0 {
		add("max_body_size must be positive", "max_body_size")
	}
	for i := range c.Tokens {
		t := &c.Tokens[i]
		if t.Role != RoleAdmin && t.Role != RoleIngest && t.Role != RoleRead {
			add(fmt.Sprintf("role must be %s, %s or %s, not %q", RoleAdmin, RoleIngest, RoleRead, t.Role), "tokens", i, "role")
		}
		if t.TokenFile == "" {
			add("token_file is required", "tokens", i)
			continue
		}
		b, err := os.ReadFile(t.TokenFile)
		if err != nil {
			add(fmt.Sprintf("token_file: %v", err), "tokens", i, "token_file")
			continue
		}
		t.token = []byte(strings.TrimSpace(string(b)))
		if len(t.token) == 0 {
			add(fmt.Sprintf("token_file %s is empty", t.TokenFile), "tokens", i, "token_file")
		}
	}
	return errs
}
