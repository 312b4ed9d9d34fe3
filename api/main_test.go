package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/pgtest"
	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/overrides"
	"github.com/gatewarden/gatewarden/store"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// backends runs fn against a fresh store of each dialect.
func backends(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, b := range []struct {
		name string
		opts func(t *testing.T) store.Options
	}{
		{"sqlite", func(t *testing.T) store.Options { return store.Options{Path: filepath.Join(t.TempDir(), "gw.db")} }},
		{"postgres", func(t *testing.T) store.Options { return store.Options{DatabaseURL: pg.NewDB(t)} }},
	} {
		t.Run(b.name, func(t *testing.T) { fn(t, storetest.Open(t, b.opts(t))) })
	}
}

// server is the API on a real listener, with an admin and a read token.
type server struct {
	*httptest.Server
	t         testing.TB
	store     *store.Store
	overrides *overrides.Set
}

const (
	adminToken = "admin-token-value"
	readToken  = "read-token-value"
)

func newServer(t testing.TB, s *store.Store, cfgYAML string) *server {
	t.Helper()
	return newServerWith(t, s, cfgYAML, nil)
}

func newServerWith(t testing.TB, s *store.Store, cfgYAML string, channels Channels) *server {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"admin": adminToken, "read": readToken} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cfgYAML == "" {
		cfgYAML = "api:\n  tokens:\n    - {token_file: admin, role: admin}\n    - {token_file: read, role: read}\n"
	}
	cfg, err := config.Load([]byte(cfgYAML), filepath.Join(dir, "gw.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ov := overrides.New(s, nil, nil)
	guard := access.New()
	guard.Apply(cfg)
	a := New(Options{Store: s, Overrides: ov, Channels: channels, Guard: guard, Registerer: prometheus.NewRegistry()})
	if err := a.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &server{Server: srv, t: t, store: s, overrides: ov}
}

// do sends a request with the admin token unless another is given and
// decodes a JSON answer into a generic value.
func (s *server) do(method, path, body string, token ...string) (int, map[string]any) {
	s.t.Helper()
	code, raw := s.raw(method, path, body, token...)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return code, out
}

func (s *server) raw(method, path, body string, token ...string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	tok := adminToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, bytes.TrimSpace(b)
}

// expect asserts a status code and, for errors, that the reason mentions want.
func (s *server) expect(method, path, body string, code int, want string, token ...string) map[string]any {
	s.t.Helper()
	got, out := s.do(method, path, body, token...)
	if got != code {
		s.t.Fatalf("%s %s: %d %v, want %d", method, path, got, out, code)
	}
	if want != "" {
		if e, _ := out["error"].(string); !strings.Contains(e, want) {
			s.t.Fatalf("%s %s: error %q, want it to mention %q", method, path, e, want)
		}
	}
	return out
}
