package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// TestReceiverDeliversAndCoolsDown runs gatewarden with the built-in rules
// and a receiver delivering to gatewaysim's webhook sink and Feishu
// stand-in: a CPU spike becomes a signed card and a signed webhook, and a
// flapping alert posted over the API is held back by the cooldown.
func TestReceiverDeliversAndCoolsDown(t *testing.T) {
	t.Parallel()
	sim, addr, dir := sinkTarget(t, nil)
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["`+addr+`"]}]
receiver:
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    routes:
      - {matchers: ['severity="critical"'], receiver: oncall, continue: true}
      - {matchers: ['alertname=~".+"'], receiver: ops}
  receivers:
    - name: ops
      webhook_configs: [{url: "http://`+addr+`/sim/webhook", secret_file: sink.secret}]
    - name: oncall
      feishu_configs: [{url: "http://`+addr+`/sim/feishu/bot-token", secret_file: sink.secret}]
`)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	delivered := func(sink, want string) bool {
		for _, n := range sim.Notifications() {
			if n.Sink == sink && n.Verified && strings.Contains(string(n.Body), want) {
				return true
			}
		}
		return false
	}
	d.eventually("the CPU alert as a signed webhook", func() bool { return delivered("webhook", `"alertname":"PluginCPUHigh"`) })
	d.eventually("the CPU alert as a signed Feishu card", func() bool { return delivered("feishu", `"msg_type":"interactive"`) })
	for _, n := range sim.Notifications() {
		if !n.Verified {
			t.Errorf("a delivery failed verification: %s %s", n.Sink, n.Error)
		}
	}

	post := func(body string) {
		resp, err := http.Post(d.url+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
		}
	}
	flap := `{"labels":{"alertname":"Flapping","master":"m9","severity":"warning","type":"error_spike"}`
	post(`[` + flap + `}]`)
	d.eventually("the flapping alert delivered", func() bool { return delivered("webhook", `"alertname":"Flapping"`) })
	post(`[` + flap + `,"endsAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}]`)
	d.eventually("its resolution delivered", func() bool { return delivered("webhook", `"status":"resolved"`) })
	post(`[` + flap + `}]`)
	d.eventually("the re-fire suppressed by the cooldown", func() bool {
		var page struct {
			Items []struct {
				Error string `json:"error"`
			} `json:"items"`
		}
		d.getJSON("/admin/alert-history?status=suppressed", &page)
		return len(page.Items) > 0 && strings.HasPrefix(page.Items[0].Error, `cooldown: repeats Flapping{master="m9", severity="warning", type="error_spike"} notified at `)
	})
	var sent struct {
		Total int `json:"total"`
	}
	d.getJSON("/admin/alert-history?status=sent", &sent)
	if sent.Total < 4 {
		t.Errorf("%d sent in history, want the CPU alert on two channels and the flapping alert twice", sent.Total)
	}
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`gatewarden_receiver_alerts_received_total{api="v2"} 3`, `gatewarden_notifications_suppressed_total{reason="cooldown"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	d.stop()
}
