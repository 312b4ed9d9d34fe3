package collector

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatewarden/gatewarden/config"
)

// events collects scrape events; tests wait on them instead of on time.
type events chan Event

func (ev events) waitFor(t *testing.T, what string, cond func(Event) bool) Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-ev:
			if cond(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no scrape event: %s", what)
		}
	}
}

func startManager(t *testing.T, yml string) (*Manager, events, func()) {
	t.Helper()
	db := newTestDB(t)
	m := NewManager(Options{Appendable: db, Registerer: prometheus.NewRegistry()})
	ev := make(events, 1000)
	m.Subscribe(func(e Event) {
		select {
		case ev <- e:
		default:
		}
	})
	cfg, err := config.Load([]byte(yml), filepath.Join(t.TempDir(), "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return m, ev, stop
}

func staticTarget(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func job(name, addr string) string {
	return fmt.Sprintf("  - job_name: %s\n    scrape_interval: 100ms\n    static_configs: [{targets: [%q]}]\n", name, addr)
}

func TestManagerScrapesAndReloads(t *testing.T) {
	a, b := staticTarget(t, "a 1\n"), staticTarget(t, "b 1\n")
	m, ev, _ := startManager(t, "scrape_configs:\n"+job("one", a)+job("two", b))
	ev.waitFor(t, "job one", func(e Event) bool { return e.Job == "one" && e.Err == nil })
	ev.waitFor(t, "job two", func(e Event) bool { return e.Job == "two" && e.Err == nil })
	if ts := m.Targets(); len(ts) != 2 || ts[0].ScrapePool != "one" || ts[1].ScrapePool != "two" {
		t.Fatalf("targets: %+v", ts)
	}

	// Job one unchanged, two removed, three added.
	before := m.pools["one"]
	cfg, err := config.Load([]byte("scrape_configs:\n"+job("one", a)+job("three", b)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if m.pools["one"] != before {
		t.Error("an unchanged job was restarted by the reload")
	}
	ev.waitFor(t, "job three", func(e Event) bool { return e.Job == "three" })
	if ts := m.Targets(); len(ts) != 2 || ts[1].ScrapePool != "three" {
		t.Fatalf("targets after reload: %+v", ts)
	}
}

func TestRemovedTargetGetsStalenessMarkers(t *testing.T) {
	db := newTestDB(t)
	m := NewManager(Options{Appendable: db})
	ev := make(events, 100)
	m.Subscribe(func(e Event) { ev <- e })
	cfg, _ := config.Load([]byte("scrape_configs:\n"+job("one", staticTarget(t, "a 1\n"))), "")
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ev.waitFor(t, "a scrape", func(e Event) bool { return e.Err == nil })
	empty, _ := config.Load(nil, "")
	if err := m.ApplyConfig(empty); err != nil {
		t.Fatal(err)
	}
	a := only(t, db, "a")
	if !isStale(a[len(a)-1]) {
		t.Fatalf("a = %v: the removed target's series must end with a staleness marker", a)
	}
	if up := only(t, db, "up"); !isStale(up[len(up)-1]) {
		t.Fatalf("up = %v: must end with a staleness marker", up)
	}
}

func TestFileSDFollowsFileChanges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.json")
	a, b := staticTarget(t, "a 1\n"), staticTarget(t, "b 1\n")
	write := func(addr string) {
		body := fmt.Sprintf(`[{"targets": [%q], "labels": {"team": "llm"}}]`, addr)
		if err := os.WriteFile(file+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	m, ev, _ := startManager(t, fmt.Sprintf("scrape_configs:\n  - job_name: sd\n    scrape_interval: 100ms\n    file_sd_configs: [{files: [%q], refresh_interval: 100ms}]\n", filepath.Join(dir, "*.json")))
	e := ev.waitFor(t, "target from the file", func(e Event) bool { return e.Err == nil })
	if e.Target.Get("team") != "llm" || e.Target.Get("instance") != a {
		t.Fatalf("target labels: %v", e.Target)
	}
	write(b)
	ev.waitFor(t, "the new target", func(e Event) bool { return e.Target.Get("instance") == b })
	if err := os.WriteFile(file, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, "the bad file read", func(Event) bool { return testutil.ToFloat64(m.m.sdReadFailures) >= 1 })
	if ts := m.Targets(); len(ts) != 1 || ts[0].Labels.Get("instance") != b {
		t.Fatalf("a broken file must keep its last targets: %+v", ts)
	}
}

// TestReloadWhileScraping reloads between two configs while a fast target is
// being scraped; a reload must never wait on a scrape that waits on it.
func TestReloadWhileScraping(t *testing.T) {
	var body strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&body, "s{i=\"%d\"} 1\n", i)
	}
	addr := staticTarget(t, body.String())
	m, ev, stop := startManager(t, "scrape_configs:\n"+fastJob("a", addr, "10ms"))
	ev.waitFor(t, "a scrape", func(e Event) bool { return e.Err == nil })
	for i := range 40 {
		cfg, err := config.Load([]byte("scrape_configs:\n"+fastJob("a", addr, []string{"10ms", "20ms"}[i%2])), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.ApplyConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	stop()
}

func fastJob(name, addr, interval string) string {
	return fmt.Sprintf("  - job_name: %s\n    scrape_interval: %s\n    static_configs: [{targets: [%q]}]\n", name, interval, addr)
}

func TestApplyConfigIsAllOrNothing(t *testing.T) {
	a := staticTarget(t, "a 1\n")
	m, ev, _ := startManager(t, "scrape_configs:\n"+job("one", a))
	ev.waitFor(t, "job one", func(e Event) bool { return e.Job == "one" })
	cfg, err := config.Load([]byte("scrape_configs:\n"+job("one", a)+job("two", a)), "")
	if err != nil {
		t.Fatal(err)
	}
	// A file that vanished between validation and apply: the client of job
	// two cannot be built.
	cfg.ScrapeConfigs[1].TLSConfig.CAFile = filepath.Join(t.TempDir(), "gone.pem")
	if err := m.ApplyConfig(cfg); err == nil {
		t.Fatal("a job whose client cannot be built must fail the apply")
	}
	if ts := m.Targets(); len(ts) != 1 || ts[0].ScrapePool != "one" {
		t.Fatalf("a failed apply changed the targets: %+v", ts)
	}
}
