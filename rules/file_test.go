package rules

import (
	"strings"
	"testing"
	"time"
)

const promFile = `groups:
  - name: gateway
    interval: 30s
    query_offset: 10s
    limit: 100
    labels: {team: llm}
    rules:
      - record: master:gateway_requests:rate5m
        expr: sum by (master) (rate(gateway_requests_total[5m]))
      - alert: GatewayErrors
        expr: |
          sum by (master) (rate(gateway_requests_total{code=~"5.."}[5m]))
            / sum by (master) (rate(gateway_requests_total[5m])) > 0.05
        for: 5m
        keep_firing_for: 10m
        labels:
          severity: warning
        annotations:
          summary: "5xx ratio high"
          description: "{{ $labels.master }} answers {{ $value | humanizePercentage }} errors."
`

func TestPrometheusRuleFileLoadsUnchanged(t *testing.T) {
	gs, err := Parse([]byte(promFile), "gateway.yml")
	if err != nil {
		t.Fatal(err)
	}
	g := gs.Groups[0]
	if g.Name != "gateway" || time.Duration(g.Interval) != 30*time.Second || time.Duration(*g.QueryOffset) != 10*time.Second || g.Limit != 100 || g.Labels["team"] != "llm" || g.File != "gateway.yml" {
		t.Errorf("group: %+v", g)
	}
	rec, alert := g.Rules[0], g.Rules[1]
	if rec.IsAlert() || rec.Name() != "master:gateway_requests:rate5m" {
		t.Errorf("record rule: %+v", rec)
	}
	if !alert.IsAlert() || time.Duration(alert.For) != 5*time.Minute || time.Duration(alert.KeepFiringFor) != 10*time.Minute || alert.Labels["severity"] != "warning" {
		t.Errorf("alert rule: %+v", alert)
	}
}

const extFile = `groups:
  - name: thresholds
    rules:
      - alert: PluginCPUHigh
        expr: gateway_plugin_cpu_usage_ratio
        condition: {function: all, window: "#3", op: ">", value: 0.8}
        recover: {function: all, window: "#3", op: "<", value: 0.7}
        keep_firing_for: 2m
        action: throttle
      - alert: TrafficSpike
        expr: sum by (master) (rate(gateway_requests_total[1m])) * 60
        condition: {function: avg, window: 3m, op: ">=", value: 1000}
        escalate: 2
      - alert: Latency
        expr: gateway_p95
        condition: {function: happen, window: "#5", op: ">", value: 1, count: 3}
        levels:
          - {level: 3, value: 1}
          - {level: 2, value: 5}
          - {level: 1, value: 10}
        nodata: {for: 3m, severity: warning}
      - alert: BudgetSteps
        expr: gateway_spend_ratio
        steps: [0.5, 0.75, 0.9, 1.0]
        period_label: period
`

func TestExtensionsLoad(t *testing.T) {
	gs, err := Parse([]byte(extFile), "ext.yml")
	if err != nil {
		t.Fatal(err)
	}
	r := gs.Groups[0].Rules
	if c := r[0].Condition; c.Func != FuncAll || c.Window != (Window{Points: 3}) || c.Op != ">" || c.Value != 0.8 || r[0].Recover.Value != 0.7 || r[0].Action != "throttle" {
		t.Errorf("cpu rule: %+v %+v", r[0], c)
	}
	if c := r[1].Condition; c.Window != (Window{Duration: 3 * time.Minute}) || r[1].Escalate != 2 {
		t.Errorf("spike rule: %+v", r[1])
	}
	if len(r[2].Levels) != 3 || r[2].Levels[2].Level != Critical || r[2].Condition.Count != 3 || time.Duration(r[2].NoData.For) != 3*time.Minute {
		t.Errorf("latency rule: %+v", r[2])
	}
	if len(r[3].Steps) != 4 || r[3].PeriodLabel != "period" {
		t.Errorf("steps rule: %+v", r[3])
	}
}

func TestRuleErrorsAreLocated(t *testing.T) {
	head := "groups:\n  - name: g\n    rules:\n"
	for _, tc := range []struct {
		name, rules string
		want        []string
	}{
		{"unknown key", "      - alert: A\n        expr: up\n        severity: 1\n", []string{`f.yml:6:9: unknown field "severity"`}},
		{"promql error in a plain expr", "      - alert: A\n        expr: sum(rate(x[5m])\n", []string{"f.yml:5:15: expr: no arguments for aggregate expression provided", "f.yml:5:30: expr: unclosed left parenthesis"}},
		{"promql error in a block expr", "      - alert: A\n        expr: |\n          sum(rate(x[5m]))\n            / on(a b) up\n", []string{"f.yml:7:22: expr: unexpected identifier \"b\""}},
		{"promql error in a quoted expr", "      - alert: A\n        expr: \"up >\"\n", []string{"f.yml:5:20: expr: unexpected end of input"}},
		{"unknown function", "      - alert: A\n        expr: up\n        condition: {function: often, window: '#3', op: '>', value: 1}\n", []string{`f.yml:6:31: unknown window function "often"`}},
		{"bad op and window", "      - alert: A\n        expr: up\n        condition: {function: all, window: '#0', op: '=>', value: 1}\n", []string{`f.yml:6:44: invalid window "#0"`, `f.yml:6:54: unknown operator "=>"`}},
		{"happen without count", "      - alert: A\n        expr: up\n        condition: {function: happen, window: 5m, op: '>', value: 1}\n", []string{"f.yml:6:20: happen needs count"}},
		{"levels without condition", "      - alert: A\n        expr: up\n        levels: [{level: 1, value: 2}]\n", []string{"f.yml:6:17: levels and escalate need a condition"}},
		{"bad level", "      - alert: A\n        expr: up\n        condition: {function: max, window: 1m, op: '>', value: 1}\n        levels: [{level: 4, value: 2}]\n", []string{"f.yml:7:26: level must be 1 (critical), 2 (warning) or 3 (info), not 4"}},
		{"unsorted steps", "      - alert: A\n        expr: up\n        steps: [0.5, 0.9, 0.75]\n", []string{"f.yml:6:27: steps must be in ascending order"}},
		{"unknown action", "      - alert: A\n        expr: up\n        action: reboot\n", []string{`f.yml:6:17: unknown action "reboot"`}},
		{"bad template", "      - alert: A\n        expr: up\n        annotations: {summary: '{{ $labels.x '}\n", []string{`f.yml:6:32: annotation "summary"`}},
		{"record with for", "      - record: a:b\n        expr: up\n        for: 1m\n", []string{"f.yml:4:17: a recording rule takes only record, expr and labels"}},
		{"neither", "      - expr: up\n", []string{"f.yml:4:9: one of 'record' or 'alert' must be set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tc.rules), "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
