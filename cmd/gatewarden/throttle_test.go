package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// TestCPUSpikeThrottledAndReleased runs the whole loop: gatewaysim's CPU
// spike fires the built-in PluginCPUHigh rule, gatewarden throttles the
// instance at the simulated gateway, the simulated CPU falls, and the
// throttle is released after the stable window; the admin API shows the
// decision and its audit trail.
func TestCPUSpikeThrottledAndReleased(t *testing.T) {
	t.Parallel()
	sim, addr := simTarget(t)
	cfg, dir := gatewayConfig(t, addr, "1s", "1s", `throttle:
  gateway: {url: "http://`+addr+`"}
  stable_window: 3s
`)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	onset := time.Now()
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	long := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	throttled := func() bool {
		for _, th := range sim.Throttles() {
			if th.InstanceID == "i1" && th.PluginID == "t1-plugin1" {
				return true
			}
		}
		return false
	}
	long("the instance throttled at the gateway", throttled)
	throttledAt := time.Since(onset)
	if active := d.activeThrottles(); len(active) != 1 || !strings.HasPrefix(active[0], "i1 ") {
		t.Fatalf("active throttles: %v", active)
	}
	long("the throttle released once CPU stayed low", func() bool { return !throttled() })
	t.Logf("spike started → throttled at the gateway %v, released %v later", throttledAt.Round(time.Millisecond), (time.Since(onset) - throttledAt).Round(time.Millisecond))
	var history struct {
		Total int `json:"total"`
		Items []struct {
			Action string `json:"action"`
		} `json:"items"`
	}
	d.getJSON("/admin/throttles/history?instance_id=i1", &history)
	var actions []string
	for _, it := range history.Items {
		actions = append(actions, it.Action)
	}
	if history.Total < 2 {
		t.Fatalf("audit trail: %v", actions)
	}
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, m := range []string{"gatewarden_throttle_success_total", "gatewarden_throttle_execution_seconds_bucket"} {
		if !strings.Contains(b.String(), m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// The policy at run time: read, replace (persisted), refuse nonsense.
	var pol map[string]any
	d.getJSON("/admin/throttles/policy", &pol)
	if pol["rule"] != "PluginCPUHigh" || pol["stable_window"] != "3s" {
		t.Fatalf("policy: %v", pol)
	}
	pol["dry_run"] = true
	body, _ := json.Marshal(pol)
	put := func(body string) int {
		resp, _ := d.send("PUT", "/admin/throttles/policy", body, "")
		return resp.StatusCode
	}
	if code := put(string(body)); code != http.StatusOK {
		t.Fatalf("PUT policy: %d", code)
	}
	d.getJSON("/admin/throttles/policy", &pol)
	if pol["dry_run"] != true {
		t.Fatalf("policy after PUT: %v", pol)
	}
	if code := put(`{"recovery_threshold": 7}`); code != http.StatusBadRequest {
		t.Fatalf("a recovery threshold of 7: %d", code)
	}
	d.stop()
}
