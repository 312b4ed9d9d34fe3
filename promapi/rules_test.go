package promapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
)

func TestRulesAndAlerts(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: gateway
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.instance }} is down"}
      - alert: Busy
        expr: rate(gateway_requests_total[5m])
        condition: {function: max, window: "#1", op: ">", value: 0.01}
        escalate: 2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var m *evaluator.Manager
	f := newFixture(t, func(o *Options) {
		m = evaluator.NewManager(evaluator.Options{Queryable: o.Queryable, Appendable: f0db(o), Engine: NewEngine(nil, nil, 0, 0)})
		o.Rules = m
	})
	cfg, err := config.Load([]byte("rule_files: [rules.yml]\n"), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	m.EvalAt(context.Background(), testNow)

	rules := f.get(t, "/api/v1/rules", nil)
	for _, want := range []string{
		`"name":"gateway","file":"` + rulesFile + `"`,
		`{"name":"job:up:sum","query":"sum by (job) (up)","labels":{},"health":"ok"`,
		`"type":"recording"`,
		`"state":"firing","name":"TargetDown","query":"up == 0","duration":0,"keepFiringFor":0,"labels":{"severity":"critical"}`,
		`"alerts":[{"labels":{"alertname":"TargetDown","instance":"b:9100","job":"gateway","severity":"critical"},"annotations":{"summary":"b:9100 is down"},"state":"firing"`,
		`"gatewarden":{"condition":{"function":"max","window":"#1","op":"\u003e","value":0.01},"escalate":2}`,
	} {
		if !strings.Contains(rules.body, want) {
			t.Errorf("/api/v1/rules lacks %s\n%s", want, rules.body)
		}
	}
	if r := f.get(t, "/api/v1/rules", map[string][]string{"type": {"record"}}); strings.Contains(r.body, "TargetDown") {
		t.Errorf("type=record lists alerting rules: %s", r.body)
	}
	alerts := f.get(t, "/api/v1/alerts", nil)
	if !strings.Contains(alerts.body, `{"status":"success","data":{"alerts":[`) || !strings.Contains(alerts.body, `"alertname":"TargetDown"`) {
		t.Errorf("/api/v1/alerts: %s", alerts.body)
	}
}

// f0db is the fixture's TSDB, which is also where rules write.
func f0db(o *Options) storage.Appendable { return o.Queryable.(storage.Appendable) }
