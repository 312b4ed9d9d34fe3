package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAlertingDefaultsAndClient(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "am", "pw\n")
	writeFile(t, dir, "token", "tok\n")
	yml := `alerting:
  alertmanagers:
    - static_configs: [{targets: ["am1:9093", "am2:9093"]}]
      basic_auth: {username: gw, password_file: ` + filepath.Join(dir, "am") + `}
    - static_configs: [{targets: ["am3:9093"]}]
      scheme: https
      timeout: 3s
      api_version: v2
      authorization: {credentials_file: ` + filepath.Join(dir, "token") + `}
      tls_config: {ca_file: ` + ca + `, server_name: am.internal}
`
	cfg, err := Load([]byte(yml), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Alerting.Alertmanagers[0], cfg.Alerting.Alertmanagers[1]
	if a.Scheme != "http" || time.Duration(a.Timeout) != DefaultAlertmanagerTimeout || a.APIVersion != "v2" {
		t.Errorf("defaults: %+v", a)
	}
	if b.Scheme != "https" || time.Duration(b.Timeout) != 3*time.Second {
		t.Errorf("set values overridden: %+v", b)
	}
	if hc := a.HTTPClientConfig(); hc.BasicAuth == nil || hc.BasicAuth.Username != "gw" || hc.BasicAuth.PasswordFile != filepath.Join(dir, "am") || hc.Authorization != nil {
		t.Errorf("basic auth client config: %+v", hc)
	}
	hc := b.HTTPClientConfig()
	if hc.Authorization == nil || hc.Authorization.Type != "Bearer" || hc.Authorization.CredentialsFile != filepath.Join(dir, "token") {
		t.Errorf("authorization client config: %+v", hc.Authorization)
	}
	if hc.TLSConfig.CAFile != ca || hc.TLSConfig.ServerName != "am.internal" || !hc.FollowRedirects {
		t.Errorf("TLS or defaults of the client config: %+v", hc)
	}
}

func TestAlertingErrorsAreLocated(t *testing.T) {
	const head = "alerting:\n  alertmanagers:\n"
	const targets = "    - static_configs: [{targets: [\"am:9093\"]}]\n"
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"scheme", targets + "      scheme: ftp\n", []string{"f.yml:4:15: scheme must be http or https, not \"ftp\""}},
		{"api v1", targets + "      api_version: v1\n", []string{"f.yml:4:20: api_version \"v1\" is not supported: Alertmanager serves only v2"}},
		{"target with scheme", "    - static_configs: [{targets: [\"http://am:9093\"]}]\n", []string{"f.yml:3:35: target \"http://am:9093\" must be host:port"}},
		{"target with credentials", "    - static_configs: [{targets: [\"u:pw@am\"]}]\n", []string{"f.yml:3:35: target \"u:pw@am\" must be host:port; put credentials in basic_auth"}},
		{"no targets", "    - scheme: http\n", []string{"f.yml:3:7: alertmanager config needs at least one target"}},
		{"empty entry", "    - ~\n", []string{"f.yml:3:7: empty alertmanager config"}},
		{"query in path_prefix", targets + "      path_prefix: /am?x=1\n", []string{"f.yml:4:20: path_prefix \"/am?x=1\" must be a path"}},
		{"bad label", "    - static_configs: [{targets: [\"am:1\"], labels: {\"\": x}}]\n", []string{"f.yml:3:57: invalid label name \"\""}},
		{"two secrets", targets + "      basic_auth: {username: u, password: p, password_file: f}\n", []string{"f.yml:4:19: basic_auth: at most one of password and password_file"}},
		{"two kinds of credentials", targets + "      basic_auth: {username: u, password: p}\n      authorization: {credentials: c}\n", []string{"f.yml:5:22: at most one of basic_auth and authorization may be set"}},
		{"authorization type basic", targets + "      authorization: {type: Basic, credentials: c}\n", []string{"f.yml:4:29: authorization type basic is not allowed"}},
		{"missing ca file", targets + "      tls_config: {ca_file: /nonexistent/ca.pem}\n", []string{"f.yml:4:29: tls_config ca_file: open /nonexistent/ca.pem: no such file or directory"}},
		{"bad timeout", targets + "      timeout: soon\n", []string{"f.yml:4:16: invalid duration \"soon\""}},
		{"unknown field", targets + "      relabel_configs: []\n", []string{"f.yml:4:7: unknown field \"relabel_configs\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(head+tc.yml), "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			expectErrors(t, err, tc.want)
		})
	}
}

func TestAlertingSecretsNotInErrors(t *testing.T) {
	yml := "alerting:\n  alertmanagers:\n    - static_configs: [{targets: [\"am:9093\"]}]\n      basic_auth: {username: u, password: hunter2, password_file: f}\n      authorization: {credentials: hunter3}\n"
	_, err := Load([]byte(yml), "f.yml")
	if err == nil || strings.Contains(err.Error(), "hunter") {
		t.Fatalf("error must exist and not contain a secret: %v", err)
	}
}
