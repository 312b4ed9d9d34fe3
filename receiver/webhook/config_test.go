package webhook

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// The same channel as gatewarden.yml holds it and as the store holds it.
const (
	channelYAML = `
url: https://hooks.example.com/gatewarden
headers: {X-Tenant: t1}
secret_file: /run/secrets/webhook
timeout: 5s
max_alerts: 20
`
	channelJSON = `{"url": "https://hooks.example.com/gatewarden", "headers": {"X-Tenant": "t1"},
		"secret_file": "/run/secrets/webhook", "timeout": "5s", "max_alerts": 20}`
)

func TestDecode(t *testing.T) {
	want := Config{
		URL: "https://hooks.example.com/gatewarden", Headers: map[string]commoncfg.Secret{"X-Tenant": "t1"},
		SecretFile: "/run/secrets/webhook", Timeout: yamlfile.Duration(5 * time.Second), MaxAlerts: 20,
	}
	var y, j Config
	if _, err := yamlfile.Decode([]byte(channelYAML), "gatewarden.yml", &y); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(channelJSON), &j); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Config{"yaml": y, "json": j} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v", name, got)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func(c *Config) *Config {
		if c.URL == "" && c.URLFile == "" {
			c.URL = "https://hooks.example.com/x"
		}
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  *Config
		want []string // each FieldError's path[0] and message
	}{
		{"url", ok(&Config{}), nil},
		{"url_file", &Config{URLFile: "url"}, nil},
		{"http", &Config{URL: "http://127.0.0.1:9/x?a=b"}, nil},
		{"everything", ok(&Config{Secret: "s", Headers: map[string]commoncfg.Secret{"Authorization": "Bearer x", "X-A": "\tb"}, Timeout: 1, MaxAlerts: 1}), nil},
		{"neither url", &Config{}, []string{"url: one of url and url_file is required"}},
		{"both urls", &Config{URL: "https://x", URLFile: "f"}, []string{"url: at most one of url and url_file may be set"}},
		{"scheme", &Config{URL: "ftp://x/y"}, []string{"url: scheme must be http or https"}},
		{"relative", &Config{URL: "/hooks"}, []string{"url: scheme must be http or https"}},
		{"no host", &Config{URL: "http:///hooks"}, []string{"url: URL has no host"}},
		{"unparseable", &Config{URL: "http://x:y/"}, []string{"url: not a valid URL"}},
		{"both secrets", ok(&Config{Secret: "s", SecretFile: "f"}), []string{"secret: at most one of secret and secret_file may be set"}},
		{"header name", ok(&Config{Headers: map[string]commoncfg.Secret{"X Tenant": "a", "": "b"}}), []string{
			`headers: "" is not a valid header name`, `headers: "X Tenant" is not a valid header name`}},
		{"header value", ok(&Config{Headers: map[string]commoncfg.Secret{"X-A": "a\r\nX-Injected: 1"}}), []string{"headers: the value of X-A contains a control character"}},
		{"reserved header", ok(&Config{Headers: map[string]commoncfg.Secret{"content-type": "text/plain", "X-Gatewarden-Signature": "x"}}), []string{
			"headers: X-Gatewarden-Signature is set by gatewarden and may not be configured",
			"headers: Content-Type is set by gatewarden and may not be configured"}},
		{"timeout", ok(&Config{Timeout: -1}), []string{"timeout: must not be negative"}},
		{"several", &Config{URL: "ftp://x", Secret: "a", SecretFile: "b"}, []string{
			"url: scheme must be http or https", "secret: at most one of secret and secret_file may be set"}},
	} {
		err := tc.cfg.Validate()
		var fes FieldErrors
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.As(err, &fes) {
			t.Errorf("%s: %v, want FieldErrors", tc.name, err)
			continue
		}
		var got []string
		for _, fe := range fes {
			got = append(got, fe.Error())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestFieldErrorPath(t *testing.T) {
	err := (&Config{URL: "https://x", Headers: map[string]commoncfg.Secret{"X Y": ""}}).Validate()
	var fes FieldErrors
	if !errors.As(err, &fes) || len(fes) != 1 || strings.Join(fes[0].Path, "/") != "headers/X Y" {
		t.Errorf("%#v", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(&Config{}, nil, nil); err == nil {
		t.Error("New took a config without a URL")
	}
}
