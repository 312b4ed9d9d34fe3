package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/promtest"
)

// TestRemoteWriteAndFederation runs the daemon with remote_write to a real
// Prometheus: scraped series, recording rules and ALERTS arrive with the
// external label, and /federate serves the same series to a federating
// server.
func TestRemoteWriteAndFederation(t *testing.T) {
	t.Parallel()
	prom := promtest.Prometheus(t)
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: fleet
    rules:
      - record: master:gateway_requests:sum
        expr: sum by (master) (gateway_requests_total)
      - alert: GatewayBusy
        expr: sum by (master) (gateway_requests_total) > 10
`)
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s, external_labels: {node: n1}}\nrule_files: [rules.yml]\n"+
		jobConfig("gateway", target(t))+
		"remote_write:\n  - url: "+prom.URL+prom.WritePath+"\n    queue_config: {batch_send_deadline: 100ms}\n")
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))

	for _, q := range []string{
		`gateway_requests_total{node="n1", job="gateway", master="m1"}`,
		`master:gateway_requests:sum{node="n1", master="m1"}`,
		`ALERTS{node="n1", alertname="GatewayBusy", alertstate="firing", master="m1"}`,
		`up{node="n1", job="gateway"}`,
	} {
		promtest.Poll(t, 30*time.Second, q+" in Prometheus", func() (bool, error) {
			v, err := prom.Query(context.Background(), q, time.Now())
			return err == nil && len(v) == 1, nil
		})
	}
	if d.metricSum("prometheus_remote_storage_samples_total") == 0 {
		t.Error("prometheus_remote_storage_samples_total is 0 on /metrics")
	}

	resp, err := http.Get(d.url + "/federate?" + url.Values{"match[]": {`{__name__=~"gateway_.*|master:.*"}`}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"# TYPE gateway_requests_total untyped\n",
		`gateway_requests_total{instance="`,
		`master="m1",node="n1"} 42 `,
		`master:gateway_requests:sum{master="m1",instance="",node="n1"} 42 `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/federate lacks %q:\n%s", want, body)
		}
	}
	d.stop()
}
