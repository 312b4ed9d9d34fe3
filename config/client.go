package config

import (
	"fmt"
	"strings"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// httpClientConfig is the translation shared by every client the config
// describes (scrape targets and Alertmanagers).
func httpClientConfig(b *BasicAuth, a *Authorization, t TLSConfig) commoncfg.HTTPClientConfig {
	h := commoncfg.DefaultHTTPClientConfig
	if b != nil {
		h.BasicAuth = &commoncfg.BasicAuth{
			Username:     b.Username,
			Password:     b.Password,
			PasswordFile: b.PasswordFile,
		}
	}
	if a != nil {
		h.Authorization = &commoncfg.Authorization{
			Type:            a.Type,
			Credentials:     a.Credentials,
			CredentialsFile: a.CredentialsFile,
		}
		if h.Authorization.Type == "" {
			h.Authorization.Type = "Bearer"
		}
	}
	h.TLSConfig = commoncfg.TLSConfig{
		CAFile:             t.CAFile,
		CertFile:           t.CertFile,
		KeyFile:            t.KeyFile,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	return h
}

// resolveClientPaths is the part of path resolution every HTTP client of
// the config shares.
func resolveClientPaths(join func(*string), b *BasicAuth, a *Authorization, t *TLSConfig) {
	if b != nil {
		join(&b.PasswordFile)
	}
	if a != nil {
		join(&a.CredentialsFile)
	}
	join(&t.CAFile)
	join(&t.CertFile)
	join(&t.KeyFile)
}

// validClient checks what every HTTP client of the config shares: one
// secret per credential, one kind of credential, and secret and TLS files
// that can be read now rather than when a scrape or a reload needs them.
func validClient(b *BasicAuth, a *Authorization, t TLSConfig, at func(...any) []any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, p ...any) { errs = append(errs, yamlfile.At(msg, at(p...)...)) }
	if b != nil && b.Password != "" && b.PasswordFile != "" {
		add("basic_auth: at most one of password and password_file may be set", "basic_auth")
	}
	if a != nil {
		if a.Credentials != "" && a.CredentialsFile != "" {
			add("authorization: at most one of credentials and credentials_file may be set", "authorization")
		}
		if strings.EqualFold(a.Type, "basic") {
			add("authorization type basic is not allowed: use basic_auth", "authorization", "type")
		}
	}
	if b != nil && a != nil {
		add("at most one of basic_auth and authorization may be set", "authorization")
	}
	// The client's own checks, for what the ones above do not say better.
	if hc := httpClientConfig(b, a, t); len(errs) == 0 && hc.Validate() != nil {
		add(hc.Validate().Error())
	}
	for _, f := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if err := readable(f[1]); err != nil {
			add(fmt.Sprintf("tls_config %s: %v", f[0], err), "tls_config", f[0])
		}
	}
	if b != nil && b.Password == "" {
		if err := readable(b.PasswordFile); err != nil {
			add(fmt.Sprintf("basic_auth password_file: %v", err), "basic_auth", "password_file")
		}
	}
	if a != nil && a.Credentials == "" {
		if err := readable(a.CredentialsFile); err != nil {
			add(fmt.Sprintf("authorization credentials_file: %v", err), "authorization", "credentials_file")
		}
	}
	return errs
}
