package evaluator

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
)

// harness evaluates rules deterministically: samples appended at chosen
// times into a real TSDB, groups evaluated at chosen times, what is sent
// recorded.
type harness struct {
	t      *testing.T
	db     *tsdb.DB
	dir    string
	m      *Manager
	sent   []Alert
	resend time.Duration
	steps  StepLedger // nil: the snapshot alone keeps the step accounting
	// external is the manager's ExternalURL.
	external string
	// queryable, when set, is what the manager queries instead of db.
	queryable storage.Queryable
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// at is the i-th 10 s step after t0.
func at(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }

func newHarness(t *testing.T, ruleYAML string) *harness {
	t.Helper()
	dir := t.TempDir()
	db, err := tsdb.Open(filepath.Join(dir, "tsdb"), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(ruleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	// Re-sends are tested on their own; elsewhere they would only add noise.
	h := &harness{t: t, db: db, dir: dir, resend: time.Hour}
	h.m = h.manager()
	return h
}

func (h *harness) manager() *Manager {
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: parser.NewParser(parser.Options{})})
	var q storage.Queryable = h.db
	if h.queryable != nil {
		q = h.queryable
	}
	m := NewManager(Options{
		Queryable: q, Appendable: h.db, Engine: engine,
		SnapshotFile: filepath.Join(h.dir, "rules.snapshot"),
		ResendDelay:  h.resend,
		Steps:        h.steps,
		ExternalURL:  h.external,
		Notify: func(_ context.Context, as []*Alert) {
			for _, a := range as {
				h.sent = append(h.sent, *a)
			}
		},
	})
	cfg, err := config.Load([]byte("global: {evaluation_interval: 10s}\nrule_files: [rules.yml]\n"), filepath.Join(h.dir, "gatewarden.yml"))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// add appends one sample per series, given as `name{l="v"}` → value.
func (h *harness) add(ts time.Time, samples map[string]float64) {
	h.t.Helper()
	app := h.db.Appender(context.Background())
	for s, v := range samples {
		ls, err := parser.NewParser(parser.Options{}).ParseMetric(s)
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := app.Append(0, ls, ts.UnixMilli(), v); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

// eval evaluates every group at ts and returns what was sent, as
// "alertname{labels} state" lines, sorted.
func (h *harness) eval(ts time.Time) []string {
	h.t.Helper()
	h.sent = nil
	for _, g := range h.m.Groups() {
		g.Eval(context.Background(), ts, h.m)
	}
	var out []string
	for _, a := range h.sent {
		state := "firing"
		if a.Resolved() {
			state = "resolved"
		}
		out = append(out, describe(a.Labels)+" "+state)
	}
	slices.Sort(out)
	return out
}

// states returns each active alert as "labels state".
func (h *harness) states() []string {
	var out []string
	for _, g := range h.m.Groups() {
		for _, a := range g.ActiveAlerts() {
			out = append(out, describe(a.Labels)+" "+a.State.String())
		}
	}
	slices.Sort(out)
	return out
}

func describe(ls labels.Labels) string {
	return strings.ReplaceAll(ls.String(), `alertname=`, `a=`)
}

func (h *harness) expect(what string, got []string, want ...string) {
	h.t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
