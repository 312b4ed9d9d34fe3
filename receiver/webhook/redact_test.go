package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Values that must never leave the process in an error or a config dump.
const (
	pathToken   = "T0KEN-IN-PATH"
	queryToken  = "T0KEN-IN-QUERY"
	password    = "pa55-in-userinfo"
	signSecret  = "s1gning-secret"
	headerValue = "Bearer H3ADER-T0KEN"
)

var leaks = []string{pathToken, queryToken, password, signSecret, headerValue, "/hooks/", "token=",
	base64.StdEncoding.EncodeToString([]byte("gw:" + password))} // userinfo, sent as basic auth

func secretURL(host string) string {
	return "http://gw:" + password + "@" + host + "/hooks/" + pathToken + "?token=" + queryToken
}

// echo answers code with everything it was sent: path, query, headers
// (basic auth included) and body, as a careless error page might.
func echo(t *testing.T, code int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(code)
		fmt.Fprintf(w, "Cannot POST %s (%s) %v %s", r.URL.RequestURI(), r.URL.Query().Get("token"), r.Header, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func assertNoLeak(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	// Every error of the chain, as a logger that unwraps would print it.
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			for _, leak := range leaks {
				if strings.Contains(s, leak) {
					t.Errorf("%s: %q leaks %q", what, s, leak)
				}
			}
		}
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	hung, _ := hang(t)
	for _, tc := range []struct {
		name string
		host string
		cfg  func(*Config)
	}{
		{"404 echoing the request", echo(t, 404).Listener.Addr().String(), nil},
		{"500 echoing the request", echo(t, 500).Listener.Addr().String(), nil},
		{"403 echoing basic auth", echo(t, 403).Listener.Addr().String(), func(c *Config) { delete(c.Headers, "Authorization") }},
		{"connection refused", refused, nil},
		{"timeout", hung.Listener.Addr().String(), func(c *Config) { c.Timeout = yamlfile.Duration(20 * time.Millisecond) }},
	} {
		cfg := &Config{
			URL:     commoncfg.Secret(secretURL(tc.host)),
			Secret:  signSecret,
			Headers: map[string]commoncfg.Secret{"Authorization": headerValue},
		}
		if tc.cfg != nil {
			tc.cfg(cfg)
		}
		_, err := notifier(t, cfg).Notify(context.Background(), sample(1))
		assertNoLeak(t, tc.name, err)
		if err != nil && !strings.Contains(err.Error(), "http://"+tc.host) {
			t.Errorf("%s: %v does not name the destination's origin", tc.name, err)
		}
	}
}

func TestFileErrorsHideSecrets(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(urlFile, []byte("ftp://x/hooks/"+pathToken+"?token="+queryToken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := notifier(t, &Config{URLFile: urlFile}).Notify(context.Background(), sample(1))
	assertNoLeak(t, "url_file with a bad URL", err)
}

func TestValidateHidesSecrets(t *testing.T) {
	for _, u := range []string{
		"ftp://gw:" + password + "@host/hooks/" + pathToken + "?token=" + queryToken,
		"http://host:" + pathToken + "/hooks/?token=" + queryToken, // a bad port url.Parse would quote
		"http://host/hooks/%zz" + pathToken,
	} {
		err := (&Config{URL: commoncfg.Secret(u), Headers: map[string]commoncfg.Secret{"X Bad": headerValue}}).Validate()
		assertNoLeak(t, "Validate", err)
	}
}

func TestMarshalHidesSecrets(t *testing.T) {
	cfg := Config{
		URL:       commoncfg.Secret(secretURL("hooks.example.com")),
		Secret:    signSecret,
		Headers:   map[string]commoncfg.Secret{"Authorization": headerValue},
		Timeout:   yamlfile.Duration(5 * time.Second),
		MaxAlerts: 10,
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// encoding/json escapes < and >; read the JSON as a consumer would.
	var decoded any
	if err := json.Unmarshal(j, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprint(decoded), string(y)} {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("%s leaks %q", out, leak)
			}
		}
		if strings.Count(out, "<secret>") != 3 || !strings.Contains(out, "5s") {
			t.Errorf("want url, secret and the header as <secret>, and the timeout:\n%s", out)
		}
	}
}
