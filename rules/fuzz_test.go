package rules

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// FuzzParse loads any rule file. Refused, it is refused with located
// errors. Loaded, everything downstream of the loader must hold: its
// templates expand as the evaluator expands them, and it exports to plain
// Prometheus rules (or says why not) that Prometheus's own loader takes.
func FuzzParse(f *testing.F) {
	f.Add(BuiltinSource())
	// file_test.go's and export_test.go's files.
	f.Add([]byte("groups:\n  - name: gateway\n    interval: 30s\n    query_offset: 10s\n    limit: 100\n    labels: {team: llm}\n    rules:\n      - record: master:gateway_requests:rate5m\n        expr: sum by (master) (rate(gateway_requests_total[5m]))\n      - alert: GatewayErrors\n        expr: |\n          sum by (master) (rate(gateway_requests_total{code=~\"5..\"}[5m]))\n            / sum by (master) (rate(gateway_requests_total[5m])) > 0.05\n        for: 5m\n        keep_firing_for: 10m\n        labels:\n          severity: warning\n        annotations:\n          summary: \"5xx ratio high\"\n          description: \"{{ $labels.master }} answers {{ $value | humanizePercentage }} errors.\"\n"))
	f.Add([]byte("groups:\n  - name: thresholds\n    rules:\n      - alert: PluginCPUHigh\n        expr: gateway_plugin_cpu_usage_ratio\n        condition: {function: all, window: \"#3\", op: \">\", value: 0.8}\n        recover: {function: all, window: \"#3\", op: \"<\", value: 0.7}\n        keep_firing_for: 2m\n        action: throttle\n      - alert: TrafficSpike\n        expr: sum by (master) (rate(gateway_requests_total[1m])) * 60\n        condition: {function: avg, window: 3m, op: \">=\", value: 1000}\n        escalate: 2\n      - alert: Latency\n        expr: gateway_p95\n        condition: {function: happen, window: \"#5\", op: \">\", value: 1, count: 3}\n        levels:\n          - {level: 3, value: 1}\n          - {level: 2, value: 5}\n          - {level: 1, value: 10}\n        nodata: {for: 3m, severity: warning}\n      - alert: BudgetSteps\n        expr: gateway_spend_ratio\n        steps: [0.5, 0.75, 0.9, 1.0]\n        period_label: period\n"))
	f.Add([]byte("groups:\n  - name: g\n    query_offset: 15s\n    rules:\n      - alert: KeepOverPoints\n        expr: cpu\n        condition: {function: all, window: \"#3\", op: \">\", value: 3}\n        recover: {function: all, window: \"#3\", op: \"<\", value: 1}\n        keep_firing_for: 1m\n      - alert: NoData\n        expr: cpu\n        nodata: {for: 1m}\n      - alert: Relabelled\n        expr: cpu\n        action: throttle\n        labels: {action: page}\n      - alert: NoEarlierPoint\n        expr: cpu @ end()\n        condition: {function: diff, window: \"#1\", op: \">\", value: 3, min: 2}\n"))
	head := "groups:\n  - name: g\n    rules:\n"
	for _, rule := range []string{
		// TestRuleErrorsAreLocated's rules.
		"      - alert: A\n        expr: up\n        severity: 1\n",
		"      - alert: A\n        expr: sum(rate(x[5m])\n",
		"      - alert: A\n        expr: |\n          sum(rate(x[5m]))\n            / on(a b) up\n",
		"      - alert: A\n        expr: \"up >\"\n",
		"      - alert: A\n        expr: up\n        condition: {function: often, window: '#3', op: '>', value: 1}\n",
		"      - alert: A\n        expr: up\n        condition: {function: all, window: '#0', op: '=>', value: 1}\n",
		"      - alert: A\n        expr: up\n        condition: {function: max, window: 1m, op: '>', value: 1}\n        levels: [{level: 4, value: 2}]\n",
		"      - alert: A\n        expr: up\n        steps: [0.5, 0.9, 0.75]\n",
		"      - alert: A\n        expr: up\n        annotations: {summary: '{{ $labels.x '}\n",
		"      - record: a:b\n        expr: up\n        for: 1m\n",
		"      - expr: up\n",
	} {
		f.Add([]byte(head + rule))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := Parse(data, "f.yml")
		if err != nil {
			var errs yamlfile.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a located yamlfile.Errors: %T %v", err, err)
			}
			return
		}
		for _, g := range gs.Groups {
			for _, r := range g.Rules {
				expandAll(t, &r)
			}
		}
		out, _, err := Export(gs, 10*time.Second)
		if err != nil {
			return // the documented refusals: windows that cannot be written at the interval
		}
		var b bytes.Buffer
		if err := WriteRuleGroups(&b, out); err != nil {
			t.Fatalf("export does not write: %v", err)
		}
		if _, errs := rulefmt.Parse(b.Bytes(), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) > 0 {
			t.Fatalf("Prometheus refuses the export: %v\n%s", errors.Join(errs...), b.String())
		}
	})
}

// expandAll renders a rule's templates as the evaluator does for a firing
// alert; a failure is fine (the query function is absent), a panic is not.
func expandAll(t *testing.T, r *Rule) {
	t.Helper()
	d := TemplateData{Labels: map[string]string{"master": "m1", "alertname": r.Alert}, Value: 0.42, Time: time.Unix(1_800_000_000, 0)}
	for _, m := range []map[string]string{r.Labels, r.Annotations} {
		for _, text := range m {
			_, _ = Expand(context.Background(), r.Alert, text, d)
		}
	}
}
