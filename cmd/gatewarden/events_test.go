package main

import (
	"path/filepath"
	"testing"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// gone waits until no alert whose labels include all of want is pending or
// firing.
func (d *daemon) gone(what string, want map[string]string) {
	d.t.Helper()
	d.eventually(what, func() bool { return !d.hasAlert(want, promv1.AlertStateFiring, promv1.AlertStatePending) })
}

// TestEventRulesFireAndRecover plays gatewaysim's event scenarios against
// the built-in rule pack: each of ez-api's event types fires, reaches the
// store typed for ez-api, and resolves when the scenario ends.
func TestEventRulesFireAndRecover(t *testing.T) {
	t.Parallel()
	type event struct {
		req    gatewaysim.ScenarioRequest
		labels map[string]string
		typ    string
		quick  bool // resolves within a scrape or two: a gauge, not a rate over 1m
	}
	events := []event{
		{gatewaysim.ScenarioRequest{Name: "key-disable", Target: gatewaysim.Target{Master: "m1", Key: "m1-k2"}},
			map[string]string{"alertname": "GatewayKeyDisabled", "key": "m1-k2", "severity": "warning"}, "key_disabled", true},
		{gatewaysim.ScenarioRequest{Name: "key-expiry", Target: gatewaysim.Target{Master: "m1", Key: "m1-k1"}, Params: map[string]float64{"days": 3}},
			map[string]string{"alertname": "GatewayKeyExpiry", "key": "m1-k1", "severity": "warning"}, "key_expired", true},
		{gatewaysim.ScenarioRequest{Name: "key-expiry", Target: gatewaysim.Target{Master: "m2", Key: "m2-k1"}, Params: map[string]float64{"days": -1}},
			map[string]string{"alertname": "GatewayKeyExpiry", "key": "m2-k1", "severity": "critical"}, "key_expired", true},
		{gatewaysim.ScenarioRequest{Name: "provider-outage", Target: gatewaysim.Target{Provider: "anthropic"}},
			map[string]string{"alertname": "GatewayProviderDown", "provider": "anthropic"}, "provider_down", true},
		// Traffic enough for the rate share to count.
		{gatewaysim.ScenarioRequest{Name: "traffic-spike", Target: gatewaysim.Target{Master: "m2"}, Params: map[string]float64{"factor": 20}}, nil, "", false},
		{gatewaysim.ScenarioRequest{Name: "rate-limit", Target: gatewaysim.Target{Master: "m2"}, Params: map[string]float64{"ratio": 0.5}},
			map[string]string{"alertname": "GatewayRateLimited", "master": "m2"}, "rate_limit", false},
		// Five times the limit, so rate()[1m] over the first seconds of
		// data, which extrapolates little, is over it already.
		{gatewaysim.ScenarioRequest{Name: "quota-approach", Target: gatewaysim.Target{Master: "m3"}, Params: map[string]float64{"ratio": 5}},
			map[string]string{"alertname": "GatewayQuotaExceeded", "master": "m3"}, "quota_exceeded", false},
	}
	// The scenarios run from the sim's first step, so the rates over 1m
	// are at the scenarios' values from the first scrape on.
	var reqs []gatewaysim.ScenarioRequest
	for _, e := range events {
		reqs = append(reqs, e.req)
	}
	sim, addr := simTarget(t, reqs...)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"+
		"scrape_configs:\n  - job_name: gateway\n    static_configs: [{targets: [\""+addr+"\"]}]\n")
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))

	for _, e := range events {
		if e.labels == nil {
			continue
		}
		d.firing(e.labels["alertname"]+" on "+e.req.Name, e.labels)
		var page struct {
			Items []struct {
				Labels map[string]string `json:"labels"`
			} `json:"items"`
		}
		d.eventually(e.typ+" in the store", func() bool {
			d.getJSON("/admin/alerts?status=active&type="+e.typ, &page)
			for _, it := range page.Items {
				if it.Labels["alertname"] == e.labels["alertname"] {
					return true
				}
			}
			return false
		})
	}
	// Quiet again: the event alerts on gauges resolve at once. (Those on
	// rates over a minute take that minute, as any such rule does.)
	for _, sc := range sim.Scenarios() {
		sim.StopScenario(sc.ID)
	}
	for _, e := range events {
		if e.quick {
			d.gone(e.labels["alertname"]+" resolved after "+e.req.Name, map[string]string{"alertname": e.labels["alertname"]})
		}
	}
	d.stop()
}
