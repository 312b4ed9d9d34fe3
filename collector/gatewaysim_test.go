package collector

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
)

// TestScrapeGatewaysimThenQuery runs the whole ingest path against an
// in-process simulated gateway: HTTP scrape, parse, relabel, TSDB, PromQL.
func TestScrapeGatewaysimThenQuery(t *testing.T) {
	opts := gatewaysim.DefaultOptions()
	opts.Tick = 20 * time.Millisecond
	sim, err := gatewaysim.New(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = sim.Run(ctx) }()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	db := newTestDB(t)
	m := NewManager(Options{Appendable: db})
	ev := make(events, 100)
	m.Subscribe(func(e Event) { ev <- e })
	cfg, err := config.Load([]byte("scrape_configs:\n"+job("gateway", strings.TrimPrefix(srv.URL, "http://"))), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var last Event
	for range 3 {
		last = ev.waitFor(t, "a good scrape", func(e Event) bool { return e.Err == nil })
	}
	if !strings.Contains(strings.Join(last.Metrics, " "), "gateway_plugin_cpu_usage_ratio") {
		t.Errorf("event metrics %v lack the plugin CPU gauge", last.Metrics)
	}

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	query := func(expr string) float64 {
		t.Helper()
		q, err := engine.NewInstantQuery(ctx, db, nil, expr, last.Time)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		res := q.Exec(ctx)
		vec, err := res.Vector()
		if err != nil || len(vec) != 1 {
			t.Fatalf("%s: %v %v", expr, vec, err)
		}
		return vec[0].F
	}
	want := map[string]float64{
		`up{job="gateway"}`:                                 1,
		`count(gateway_requests_total)`:                     float64(opts.Masters * opts.KeysPerMaster * opts.Providers * opts.Models * 5),
		`count(gateway_plugin_cpu_usage_ratio)`:             float64(opts.Tenants * opts.PluginsPerTenant * opts.InstancesPerPlugin),
		`count(gateway_master_budget_usd > 0)`:              float64(opts.Masters),
		`scrape_samples_scraped{job="gateway"}`:             float64(opts.SeriesCount()),
		`count(count by (job, instance) ({job="gateway"}))`: 1,
	}
	for expr, v := range want {
		if got := query(expr); got != v {
			t.Errorf("%s = %v, want %v", expr, got, v)
		}
	}

	// A scenario started at run time shows up in the next scrapes.
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		last = ev.waitFor(t, "a good scrape", func(e Event) bool { return e.Err == nil })
	}
	if got := query(`max(gateway_plugin_cpu_usage_ratio{tenant_id="t1",plugin_id="t1-plugin1",instance_id="i1"})`); got < 0.9 {
		t.Errorf("cpu-spike not visible: CPU %v", got)
	}
}
