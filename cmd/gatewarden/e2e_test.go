package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// simTarget runs a simulated gateway in the test process for a gatewarden
// process to scrape.
func simTarget(t *testing.T, scenarios ...gatewaysim.ScenarioRequest) (*gatewaysim.Sim, string) {
	t.Helper()
	o := gatewaysim.DefaultOptions()
	o.Tick, o.BurstsPerHour, o.Scenarios = 200*time.Millisecond, 0, scenarios
	return simTargetWith(t, o)
}

func simTargetWith(t *testing.T, o gatewaysim.Options) (*gatewaysim.Sim, string) {
	t.Helper()
	sim, err := gatewaysim.New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = sim.Run(ctx) }()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, strings.TrimPrefix(srv.URL, "http://")
}

// sinkTarget runs gatewaysim with its webhook sink and Feishu stand-in
// checking signatures, and a fresh config directory holding their secret
// as sink.secret, for the receiver's secret_file.
func sinkTarget(t *testing.T, edit func(*gatewaysim.Options)) (sim *gatewaysim.Sim, addr, dir string) {
	t.Helper()
	o := gatewaysim.DefaultOptions()
	o.Tick, o.BurstsPerHour, o.SinkSecret = 200*time.Millisecond, 0, "sink-secret"
	if edit != nil {
		edit(&o)
	}
	sim, addr = simTargetWith(t, o)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sink.secret"), []byte("sink-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, addr, dir
}

func (d *daemon) alerts() []promv1.Alert {
	d.t.Helper()
	res, err := d.api.Alerts(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return res.Alerts
}

// firing waits for a firing alert whose labels include all of want.
func (d *daemon) firing(what string, want map[string]string) {
	d.t.Helper()
	d.eventually(what, func() bool { return d.hasAlert(want, promv1.AlertStateFiring) })
}

// hasAlert reports whether an alert in one of states has all of want's
// labels.
func (d *daemon) hasAlert(want map[string]string, states ...promv1.AlertState) bool {
	for _, a := range d.alerts() {
		ok := slices.Contains(states, a.State)
		for k, v := range want {
			ok = ok && string(a.Labels[model.LabelName(k)]) == v
		}
		if ok {
			return true
		}
	}
	return false
}

// TestBuiltinRulesFireOnScenarios runs gatewarden with its built-in rule
// pack against gatewaysim scenarios, every part real: scrape, TSDB, PromQL,
// window conditions, steps, levels.
func TestBuiltinRulesFireOnScenarios(t *testing.T) {
	t.Parallel()
	sim, addr := simTarget(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"+
		"scrape_configs:\n  - job_name: gateway\n    static_configs: [{targets: [\""+addr+"\"]}]\n")
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))

	start := func(req gatewaysim.ScenarioRequest) {
		if _, err := sim.StartScenario(req); err != nil {
			t.Fatal(err)
		}
	}
	start(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}})
	start(gatewaysim.ScenarioRequest{Name: "budget-ramp", Target: gatewaysim.Target{Master: "m1"}, Params: map[string]float64{"duration": 6}})
	// An error burst needs traffic: the rule ignores masters with fewer
	// than 20 requests in 5 minutes.
	start(gatewaysim.ScenarioRequest{Name: "traffic-spike", Target: gatewaysim.Target{Master: "m2"}, Params: map[string]float64{"factor": 40}})
	start(gatewaysim.ScenarioRequest{Name: "error-burst", Target: gatewaysim.Target{Master: "m2"}, Params: map[string]float64{"ratio": 0.5}})

	d.firing("plugin CPU after three samples", map[string]string{"alertname": "PluginCPUHigh", "instance_id": "i1", "plugin_id": "t1-plugin1"})
	for _, step := range []string{"0.5", "0.75", "0.9", "1"} {
		d.firing("budget step "+step, map[string]string{"alertname": "GatewayBudgetStep", "master": "m1", "step": step})
	}
	d.firing("critical error rate", map[string]string{"alertname": "GatewayErrorRate", "master": "m2", "severity": "critical"})
	for _, a := range d.alerts() {
		if a.Labels["alertname"] == "GatewayBudgetStep" && a.Labels["master"] != "m1" {
			t.Errorf("a budget step for a master without a scenario: %v", a.Labels)
		}
	}
	// The same alerts reach the store and the admin API, typed for ez-api.
	d.eventually("the CPU alert in /admin/alerts", func() bool {
		var page struct {
			Items []struct {
				Severity    string `json:"severity"`
				RelatedType string `json:"related_type"`
				RelatedRef  string `json:"related_ref"`
			} `json:"items"`
		}
		d.getJSON("/admin/alerts?type=cpu_anomaly&status=active", &page)
		for _, it := range page.Items {
			if it.Severity == "critical" && it.RelatedType == "plugin_instance" && it.RelatedRef == "i1" {
				return true
			}
		}
		return false
	})
	// Each carries what ez-api's detector writes in metadata: the value,
	// the threshold it crossed and the window.
	var page struct {
		Items []struct {
			Title    string `json:"title"`
			Metadata string `json:"metadata"`
		} `json:"items"`
	}
	d.getJSON("/admin/alerts?status=active&limit=200", &page)
	for _, it := range page.Items {
		var meta struct {
			Metric    string   `json:"metric"`
			Value     *float64 `json:"value"`
			Threshold *float64 `json:"threshold"`
			Window    string   `json:"window"`
			Level     string   `json:"level"`
		}
		if err := json.Unmarshal([]byte(it.Metadata), &meta); err != nil || meta.Value == nil || meta.Threshold == nil || meta.Window == "" || meta.Metric == "" || meta.Level == "" {
			t.Errorf("%q: metadata %s lacks the value, threshold, window, metric or level (%v)", it.Title, it.Metadata, err)
		}
	}
	var stats map[string]int
	d.getJSON("/admin/alerts/stats", &stats)
	if stats["active"] < 5 || stats["critical"] < 2 {
		t.Errorf("stats %v: want the budget steps, the CPU and the error-rate alerts active", stats)
	}
	d.stop()
}

// getJSON decodes a GET answer of the daemon.
func (d *daemon) getJSON(path string, v any) { d.adminJSON(path, "", v) }

// adminJSON decodes a GET answer of the daemon, with a bearer token unless
// it is empty.
func (d *daemon) adminJSON(path, token string, v any) {
	d.t.Helper()
	resp, body := d.send("GET", path, "", token)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
}

// TestOutageFiresNoDataAndTargetDown takes the whole endpoint and one
// master's series away, with short periods so the test stays quick.
func TestOutageFiresNoDataAndTargetDown(t *testing.T) {
	t.Parallel()
	sim, addr := simTarget(t)
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: outage
    rules:
      - alert: GatewayNoData
        expr: sum by (master) (gateway_requests_total)
        condition: {function: max, window: "#1", op: ">", value: 1e9}
        nodata: {for: 3s}
      - alert: GatewayTargetDown
        expr: up == 0
        for: 2s
`)
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n"+
		"scrape_configs:\n  - job_name: gateway\n    static_configs: [{targets: [\""+addr+"\"]}]\n")
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	d.eventually("data from every master", func() bool { return d.scalar(`count(sum by (master) (gateway_requests_total))`) == 3 })
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "outage", Target: gatewaysim.Target{Master: "m3"}}); err != nil {
		t.Fatal(err)
	}
	d.firing("nodata for the master that vanished", map[string]string{"alertname": "GatewayNoData", "master": "m3", "nodata": "true"})
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "outage"}); err != nil {
		t.Fatal(err)
	}
	d.firing("target down", map[string]string{"alertname": "GatewayTargetDown", "job": "gateway"})
	d.stop()
}
