package collector

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/config"
)

// TestScrapeOverTLSWithSecretFiles checks the path a production scrape
// takes: https verified against a CA file, credentials read from a file and
// re-read after rotation.
func TestScrapeOverTLSWithSecretFiles(t *testing.T) {
	password := "s3cret-one"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "gatewarden" || p != password {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, "a 1")
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", string(ca))
	write("password", password)
	yml := fmt.Sprintf(`scrape_configs:
  - job_name: tls
    scheme: https
    static_configs: [{targets: [%q]}]
    tls_config: {ca_file: ca.pem}
    basic_auth: {username: gatewarden, password_file: password}
`, strings.TrimPrefix(srv.URL, "https://"))
	cfg, err := config.Load([]byte(yml), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	db := newTestDB(t)
	p, err := newPool(cfg.ScrapeConfigs[0], db, newMetrics(prometheus.NewRegistry()), func(Event) {}, discardLogger(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var tgt *target
	for _, tg := range p.targets() {
		tgt = tg
	}
	l := newLoop("tls", tgt, p.cfg, p.client, db, p.m, func(Event) {}, discardLogger())
	l.scrape(t.Context(), at(0))
	if st := l.snapshot(); st.Health != HealthGood {
		t.Fatalf("scrape over TLS with basic auth failed: %+v", st)
	}

	password = "s3cret-two" // the server rotates; the file is not yet updated
	l.scrape(t.Context(), at(1))
	st := l.snapshot()
	if st.Health != HealthBad || !strings.Contains(st.LastError, "401") {
		t.Fatalf("want a 401, got %+v", st)
	}
	write("password", password) // rotated on disk: no reload needed
	l.scrape(t.Context(), at(2))
	if st := l.snapshot(); st.Health != HealthGood {
		t.Fatalf("password_file not re-read: %+v", st)
	}
}

func TestBadTargetLeavesOthersAlone(t *testing.T) {
	bad, good := staticTarget(t, "a 1\nb{ 2\n"), staticTarget(t, "c 3\n")
	m, ev, _ := startManager(t, "scrape_configs:\n"+job("bad", bad)+job("good", good))
	e := ev.waitFor(t, "the bad target", func(e Event) bool { return e.Job == "bad" })
	if e.Err == nil || !strings.Contains(e.Err.Error(), "expected") {
		t.Fatalf("bad target: %v", e.Err)
	}
	ev.waitFor(t, "the good target", func(e Event) bool { return e.Job == "good" && e.Err == nil })
	for _, st := range m.Targets() {
		if want := map[string]Health{"bad": HealthBad, "good": HealthGood}[st.ScrapePool]; st.Health != want {
			t.Errorf("%s: health %s, want %s (%s)", st.ScrapePool, st.Health, want, st.LastError)
		}
	}
}
