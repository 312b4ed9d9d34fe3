package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/api"
	"github.com/gatewarden/gatewarden/promapi"
)

// endpoint is one route of the listener and the role it needs ("" for
// none), as the table in docs/http-api.md says.
type endpoint struct{ method, path, need string }

// endpoints is every route the daemon serves, taken from the packages'
// own route lists where they have one, so a new route cannot slip by.
func endpoints() []endpoint {
	out := []endpoint{
		{"GET", "/metrics", ""}, {"GET", "/-/healthy", ""}, {"GET", "/-/ready", ""},
		{"GET", "/", ""}, {"GET", "/alerts", ""}, {"GET", "/static/console.js", ""},
		{"POST", "/-/reload", "admin"}, {"PUT", "/-/reload", "admin"},
		{"GET", "/debug/pprof/", "admin"}, {"GET", "/debug/pprof/cmdline", "admin"}, {"GET", "/debug/pprof/symbol", "admin"},
		{"GET", "/debug/pprof/profile?seconds=1", "admin"}, {"GET", "/debug/pprof/trace?seconds=1", "admin"},
		{"POST", "/api/v2/alerts", "ingest"}, {"POST", "/api/v1/webhook/alertmanager", "ingest"},
		{"GET", "/api/v2/silences", "read"}, {"POST", "/api/v2/silences", "ingest"},
		{"GET", "/api/v2/silence/0", "read"}, {"DELETE", "/api/v2/silence/0", "ingest"},
		{"GET", "/api/v2/alerts", "read"}, {"GET", "/api/v2/alerts/groups", "read"},
		{"GET", "/api/v2/receivers", "read"}, {"GET", "/api/v2/status", "read"},
		{"GET", "/federate?match[]=up", "read"},
	}
	for _, p := range promapi.Patterns() {
		method, path, _ := strings.Cut(p, " ")
		out = append(out, endpoint{method, strings.ReplaceAll(path, "{name}", "__name__"), "read"})
	}
	for _, p := range api.New(api.Options{}).Patterns() {
		method, path, _ := strings.Cut(p, " ")
		need := "admin"
		if method == "GET" {
			need = "read"
		}
		path = strings.NewReplacer("{id}", "1", "{name}", "GatewayErrorRate").Replace(path)
		out = append(out, endpoint{method, path, need})
	}
	return out
}

const (
	tokAdmin  = "admin-4f1c-secret"
	tokIngest = "ingest-9a2e-secret"
	tokRead   = "read-77d0-secret"
	tokSender = "sender-5b3a-secret" // receiver.auth's bearer token
)

// credential is one way of calling: its header, and the roles it has.
type credential struct {
	name, header string
	roles        []string
}

var credentials = []credential{
	{"none", "", nil},
	{"wrong", "Bearer not-a-token", nil},
	{"read", "Bearer " + tokRead, []string{"read"}},
	{"ingest token", "Bearer " + tokIngest, []string{"read", "ingest"}},
	{"receiver.auth", "Bearer " + tokSender, []string{"read", "ingest"}},
	{"admin", "Bearer " + tokAdmin, []string{"read", "ingest", "admin"}},
}

// accessConfig writes the token files and returns a config with the
// tokens, the receiver's auth lines and, after receiver r, more receivers.
func accessConfig(t *testing.T, dir, tokens, auth, receivers string) string {
	t.Helper()
	for name, v := range map[string]string{"admin.token": tokAdmin, "ingest.token": tokIngest, "read.token": tokRead, "sender.token": tokSender} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "rule_files: []\n"
	if tokens != "" {
		cfg += tokens
	}
	return cfg + "receiver:\n" + auth + "  route: {receiver: r, group_wait: 100ms, group_interval: 200ms, routes: [{receiver: cfg}]}\n  receivers:\n    - name: r\n    - name: cfg\n" + receivers
}

const allTokens = `api:
  tokens:
    - {name: ops, token_file: admin.token, role: admin}
    - {name: prometheus, token_file: ingest.token, role: ingest}
    - {name: grafana, token_file: read.token, role: read}
`

// call sends one request and returns its status code.
func call(t *testing.T, base string, e endpoint, header string) int {
	t.Helper()
	req, err := http.NewRequest(e.method, base+e.path, strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", e.method, e.path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuthorizationTable walks every endpoint with no credentials, wrong
// ones and each role's, against the table in docs/http-api.md. On the
// commit before it, silences could be written and the config reloaded
// and the profiles read by anyone who reached the port.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, accessConfig(t, dir, allTokens, "  auth: {bearer_token_file: sender.token}\n", ""))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	for _, e := range endpoints() {
		for _, c := range credentials {
			got := call(t, d.url, e, c.header)
			allowed := e.need == "" || contains(c.roles, e.need)
			switch {
			case allowed && (got == http.StatusUnauthorized || got == http.StatusForbidden):
				t.Errorf("%s %s with %s credentials: %d, want it allowed", e.method, e.path, c.name, got)
			case !allowed && c.roles == nil && got != http.StatusUnauthorized:
				t.Errorf("%s %s with %s credentials: %d, want 401", e.method, e.path, c.name, got)
			case !allowed && c.roles != nil && got != http.StatusForbidden:
				t.Errorf("%s %s with %s credentials: %d, want 403", e.method, e.path, c.name, got)
			}
		}
	}
	// Last, as it ends the daemon: quit needs an admin token too.
	quit := endpoint{"POST", "/-/quit", "admin"}
	if got := call(t, d.url, quit, "Bearer "+tokRead); got != http.StatusForbidden {
		t.Errorf("quit with a read token: %d", got)
	}
	if got := call(t, d.url, quit, "Bearer "+tokAdmin); got != http.StatusOK {
		t.Fatalf("quit with an admin token: %d", got)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("after /-/quit: %v", err)
	}
	if logs := d.logs.String(); strings.Contains(logs, "secret") {
		t.Errorf("a token appears in the log")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Without tokens everything is open, as Alertmanager and Prometheus are;
// receiver.auth still guards posting alerts and silences. Without
// --web.enable-lifecycle there is no reload or quit over HTTP.
func TestAuthorizationOpenAndLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, accessConfig(t, dir, "", "  auth: {bearer_token_file: sender.token}\n", ""))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"), "--no-web.enable-lifecycle")
	for _, e := range endpoints() {
		got := call(t, d.url, e, "")
		switch {
		case e.path == "/-/reload":
			if got != http.StatusForbidden {
				t.Errorf("%s %s without --web.enable-lifecycle: %d, want 403", e.method, e.path, got)
			}
		case e.need == "ingest" && got != http.StatusUnauthorized:
			t.Errorf("%s %s without the ingest credentials: %d, want 401", e.method, e.path, got)
		case e.need != "ingest" && (got == http.StatusUnauthorized || got == http.StatusForbidden):
			t.Errorf("%s %s without tokens: %d, want it open", e.method, e.path, got)
		}
	}
	if !strings.Contains(d.logs.String(), "no tokens") {
		t.Error("no warning that the admin API is open")
	}
	d.stop()
}
