package email

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

func validConfig() *Config {
	return &Config{To: "ops@example.com", From: "gw@example.com", Smarthost: "smtp.example.com:587"}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string // the field's path and message
	}{
		{"no to", func(c *Config) { c.To = " " }, "to: missing recipient"},
		{"bad to", func(c *Config) { c.To = "ops@example.com, nobody" }, "to: invalid address list"},
		{"no from", func(c *Config) { c.From = "" }, "from: missing sender"},
		{"bad from", func(c *Config) { c.From = "gatewarden" }, "from: invalid address"},
		{"no port", func(c *Config) { c.Smarthost = "smtp.example.com" }, "smarthost: invalid smarthost"},
		{"no host", func(c *Config) { c.Smarthost = ":25" }, "smarthost: invalid smarthost"},
		{"named port", func(c *Config) { c.Smarthost = "smtp.example.com:smtp" }, "port number"},
		{"hello", func(c *Config) { c.Hello = "my host" }, "hello: invalid EHLO name"},
		{"both passwords", func(c *Config) { c.AuthUsername, c.AuthPassword, c.AuthPasswordFile = "u", "p", "/f" }, "auth_password: at most one"},
		{"password alone", func(c *Config) { c.AuthPasswordFile = "/f" }, "auth_username: auth_username is required"},
		{"username alone", func(c *Config) { c.AuthUsername = "u" }, "auth_username: auth_password or auth_password_file is required"},
		{"tls", func(c *Config) { c.TLS = "ssl" }, `tls: invalid value "ssl"`},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "timeout: must not be negative"},
		{"header name", func(c *Config) { c.Headers = map[string]string{"X Bad": "v"} }, "headers.X Bad: invalid header name"},
		{"reserved header", func(c *Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, "header Content-Type is set by gatewarden"},
		{"same header twice", func(c *Config) { c.Headers = map[string]string{"Subject": "a", "SUBJECT": "b"} }, `headers.Subject: same header as "SUBJECT"`},
		{"header template", func(c *Config) { c.Headers = map[string]string{"Subject": "{{ .Status"} }, "headers.Subject: template"},
		{"text template", func(c *Config) { c.Text = "{{ end }}" }, "text: template"},
		{"html template", func(c *Config) { c.HTML = "{{ nosuchfunc }}" }, "html: template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.modify(c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("%T is no *FieldError", err)
			}
			if _, err := New(c, nil); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	err := (&Config{}).Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 3 {
		t.Fatalf("Validate() = %v, want to, from and smarthost reported together", err)
	}
}

// The same channel, written in gatewarden.yml and stored as JSON.
const (
	channelYAML = `
to: ops@example.com, oncall@example.com
from: Gatewarden <gw@example.com>
smarthost: smtp.office365.com:587
hello: gw1.example.net
auth_username: gw@example.com
auth_password: hunter2-hunter2
auth_identity: ident
require_tls: false
tls: implicit
tls_config:
  ca_file: /etc/ssl/relay.pem
  server_name: relay.example.com
  insecure_skip_verify: true
headers:
  Subject: '{{ .CommonLabels.alertname }}'
html: '<b>{{ .Status }}</b>'
text: '{{ .Status }}'
timeout: 1m30s
`
	channelJSON = `{
  "to": "ops@example.com, oncall@example.com",
  "from": "Gatewarden <gw@example.com>",
  "smarthost": "smtp.office365.com:587",
  "hello": "gw1.example.net",
  "auth_username": "gw@example.com",
  "auth_password": "hunter2-hunter2",
  "auth_identity": "ident",
  "require_tls": false,
  "tls": "implicit",
  "tls_config": {"ca_file": "/etc/ssl/relay.pem", "server_name": "relay.example.com", "insecure_skip_verify": true},
  "headers": {"Subject": "{{ .CommonLabels.alertname }}"},
  "html": "<b>{{ .Status }}</b>",
  "text": "{{ .Status }}",
  "timeout": "1m30s"
}`
)

func TestDecodeYAMLAndJSON(t *testing.T) {
	var fromYAML, fromJSON Config
	if _, err := yamlfile.Decode([]byte(channelYAML), "gatewarden.yml", &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(channelJSON), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Errorf("YAML and JSON differ:\n%+v\n%+v", fromYAML, fromJSON)
	}
	c := fromYAML
	if c.AuthPassword != "hunter2-hunter2" || time.Duration(c.Timeout) != 90*time.Second || c.requireTLS() || !c.TLSConfig.InsecureSkipVerify {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	var strict Config
	if _, err := yamlfile.Decode([]byte("to: a@b.c\nrequire_starttls: true\n"), "gatewarden.yml", &strict); err == nil {
		t.Error("an unknown field was accepted")
	}
}

func TestDefaults(t *testing.T) {
	c := validConfig()
	if !c.requireTLS() || c.timeout() != DefaultTimeout {
		t.Errorf("require_tls %v, timeout %v: want true, %v", c.requireTLS(), c.timeout(), DefaultTimeout)
	}
	for port, implicit := range map[string]bool{"465": true, "587": false, "25": false} {
		c.Smarthost = "smtp.example.com:" + port
		n, err := New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n.implicit != implicit {
			t.Errorf("port %s: implicit TLS %v, want %v", port, n.implicit, implicit)
		}
	}
}

func TestMarshalRedactsPassword(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(channelJSON), &c); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML map[string]any
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]map[string]any{"JSON": fromJSON, "YAML": fromYAML} {
		if out["auth_password"] != "<secret>" || out["timeout"] != "1m30s" {
			t.Errorf("%s: auth_password %q, timeout %q: want <secret>, 1m30s", name, out["auth_password"], out["timeout"])
		}
	}
	if strings.Contains(string(j)+string(y), "hunter2") {
		t.Errorf("the password is in\n%s\n%s", j, y)
	}
}

func TestResolvePaths(t *testing.T) {
	c := validConfig()
	c.AuthPasswordFile, c.TLSConfig.CAFile = "pw", "ca.pem"
	c.ResolvePaths(func(p *string) {
		if *p != "" {
			*p = "/etc/gatewarden/" + *p
		}
	})
	if c.AuthPasswordFile != "/etc/gatewarden/pw" || c.TLSConfig.CAFile != "/etc/gatewarden/ca.pem" {
		t.Errorf("paths %q, %q", c.AuthPasswordFile, c.TLSConfig.CAFile)
	}
}
