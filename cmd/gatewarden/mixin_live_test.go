package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/mixin"
	"github.com/gatewarden/gatewarden/rules"
)

// TestMixinPanelsHaveLiveData runs the demo's setup (gatewaysim, gatewarden
// scraping it and itself, the receiver, the auto-throttle) with the
// mixin's recording rules loaded, drives the scenarios the dashboards
// show, and requires every panel's query to return data from
// /api/v1/query_range, and every metric the mixin names to exist.
func TestMixinPanelsHaveLiveData(t *testing.T) {
	t.Parallel()
	// A plugin the gateway cannot throttle: the throttle failure series.
	sim, addr, dir := sinkTarget(t, func(o *gatewaysim.Options) { o.ThrottleUnsupported = []string{"t2-*"} })
	if err := os.WriteFile(filepath.Join(dir, "builtin.yml"), rules.BuiltinSource(), 0o600); err != nil {
		t.Fatal(err)
	}
	recordings, err := filepath.Abs(filepath.Join("..", "..", mixin.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gatewarden.yml")
	base := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [builtin.yml, %q]
receiver:
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    # Every alert also goes to a channel that is down: the failing-channel
    # and failed-notification series.
    routes:
      - {matchers: ['alertname=~".+"'], receiver: broken, continue: true}
      - {matchers: ['alertname=~".+"'], receiver: ops}
  receivers:
    - name: ops
      webhook_configs: [{url: "http://%s/sim/webhook", secret_file: sink.secret}]
    - name: broken
      webhook_configs: [{url: "http://%s/down"}]
throttle:
  gateway: {url: "http://%s", max_attempts: 1}
  stable_window: 3s
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: [%q]}]
  # A gateway replica that is down: the scrape failure series.
  - job_name: gateway-replica
    static_configs: [{targets: [%q]}]
`, recordings, addr, freeAddr(t), addr, addr, freeAddr(t))
	writeConfig(t, cfg, base)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	start := time.Now()
	// gatewarden scrapes itself as a central Prometheus would, once its
	// address is known.
	writeConfig(t, cfg, base+"  - job_name: gatewarden\n    static_configs: [{targets: [\""+strings.TrimPrefix(d.url, "http://")+"\"]}]\n")
	d.reload()
	d.eventually("the gatewarden job", func() bool { return slices.Contains(d.jobs(), "gatewarden") })

	for _, req := range []gatewaysim.ScenarioRequest{
		{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}},
		{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t2", PluginID: "t2-plugin1", InstanceID: "i1"}},
		{Name: "budget-ramp", Target: gatewaysim.Target{Master: "m1"}, Params: map[string]float64{"duration": 6}},
	} {
		if _, err := sim.StartScenario(req); err != nil {
			t.Fatal(err)
		}
	}
	coolDown(t, d, sim)

	// The committed files, which the mixin package's tests hold equal.
	files, err := mixin.Render(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	qs, err := mixin.DashboardQueries(files)
	if err != nil {
		t.Fatal(err)
	}
	empty := func() []string {
		vars := map[string]string{
			"__rate_interval": "10s", "__interval": "1s", "__range": fmt.Sprintf("%ds", int(time.Since(start).Seconds())+1),
			"job": ".+", "instance": ".+", "master": ".+", "gateway_job": ".+",
		}
		var out []string
		for _, q := range qs {
			if !hasData(t, d, mixin.Substitute(q.Expr, vars), start) {
				out = append(out, q.String())
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for left := empty(); len(left) > 0; left = empty() {
		if time.Now().After(deadline) {
			t.Fatalf("panels without data:\n  %s", strings.Join(left, "\n  "))
		}
		time.Sleep(time.Second)
	}
	checkMetricsExist(t, d, files)
	d.stop()
}

// coolDown posts an alert, its resolution and the alert again: the re-fire
// is held back by the cooldown, the suppression series.
func coolDown(t *testing.T, d *daemon, sim *gatewaysim.Sim) {
	t.Helper()
	post := func(body string) {
		resp, err := http.Post(d.url+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	delivered := func(want string) func() bool {
		return func() bool {
			return slices.ContainsFunc(sim.Notifications(), func(n gatewaysim.Notification) bool { return strings.Contains(string(n.Body), want) })
		}
	}
	flap := `{"labels":{"alertname":"Flapping","master":"m9","severity":"warning"}`
	post(`[` + flap + `}]`)
	d.eventually("the flapping alert delivered", delivered(`"alertname":"Flapping"`))
	post(`[` + flap + `,"endsAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}]`)
	d.eventually("its resolution delivered", delivered(`"status":"resolved"`))
	post(`[` + flap + `}]`)
}

// hasData reports whether expr, over the test so far at a 1s step, returns
// a series with a number (not NaN) in it: what Grafana draws.
func hasData(t *testing.T, d *daemon, expr string, start time.Time) bool {
	t.Helper()
	v, _, err := d.api.QueryRange(context.Background(), expr, promv1.Range{Start: start, End: time.Now(), Step: time.Second})
	if err != nil {
		t.Fatalf("query_range %s: %v", expr, err)
	}
	for _, s := range v.(model.Matrix) {
		if slices.ContainsFunc(s.Values, func(p model.SamplePair) bool { return !math.IsNaN(float64(p.Value)) }) {
			return true
		}
	}
	return false
}

// checkMetricsExist requires every metric an alert, a recording rule or a
// panel names to be among the series gatewarden holds (what it scraped from
// gatewaysim and itself, and what its rules recorded) or to be recorded by
// the mixin: a group evaluated every minute may not have run yet, and the
// inputs of its rules are checked in turn.
func checkMetricsExist(t *testing.T, d *daemon, files map[string][]byte) {
	t.Helper()
	names, _, err := d.api.LabelValues(context.Background(), model.MetricNameLabel, nil, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[string(n)] = true
	}
	var recorded rulefmt.RuleGroups
	if err := yaml.Unmarshal(files[mixin.RulesFile], &recorded); err != nil {
		t.Fatal(err)
	}
	for _, g := range recorded.Groups {
		for _, r := range g.Rules {
			have[r.Record] = true
		}
	}
	exprs, err := mixin.Exprs(files, map[string]string{"__rate_interval": "1m", "__interval": "1s", "__range": "1h", "job": ".+", "instance": ".+", "master": ".+", "gateway_job": ".+"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		ms, err := mixin.MetricNames(e)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		for _, m := range ms {
			if !have[m] {
				t.Errorf("%s names %s, which neither gatewarden nor gatewaysim exposes", e, m)
			}
		}
	}
}
