package rules

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// exportOf parses a rule file and exports it at a 10s default interval.
func exportOf(t *testing.T, file string) (*rulefmt.RuleGroups, []string) {
	t.Helper()
	gs, err := Parse([]byte(file), "r.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Export(gs, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return out, warnings
}

// Parts of the expected expressions: the latest value of cpu, and the
// forms of a few conditions over it.
const (
	latest = `last_over_time((cpu)[10s:10s])`
	over3  = `count_over_time(((cpu) > 3)[30s:10s]) >= 3`
	over6  = `count_over_time(((cpu) > 6)[30s:10s]) >= 3`
	under1 = `count_over_time(((cpu) < 1)[20s:10s]) >= 2`
)

func TestExportMapping(t *testing.T) {
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, rules string
		want        []rulefmt.Rule
	}{
		{"Prometheus rules unchanged", `
      - record: job:up:sum
        expr: |
          sum by (job) (up)  # a PromQL comment stays
        labels: {a: b}
      - alert: Down
        expr: up == 0
        for: 1m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }}"}`, []rulefmt.Rule{
			{Record: "job:up:sum", Expr: "sum by (job) (up)  # a PromQL comment stays\n", Labels: labels("a", "b")},
			{Alert: "Down", Expr: "up == 0", For: model.Duration(time.Minute), KeepFiringFor: model.Duration(2 * time.Minute),
				Labels: labels("severity", "page"), Annotations: labels("summary", "{{ $labels.job }}")},
		}},
		{"condition with for, action and $value", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        for: 30s
        action: throttle
        annotations: {summary: "{{ $value }}"}`, []rulefmt.Rule{
			{Alert: "Hot", Expr: latest + " and (" + over3 + ")", For: model.Duration(30 * time.Second),
				Labels: labels("action", "throttle"), Annotations: labels("summary", "{{ $value }}")},
		}},
		{"levels most severe first, one at a time", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 0}
        labels: {severity: ignored}
        levels: [{level: 3, value: 1}, {level: 1, value: 6}, {level: 2, value: 3}]`, []rulefmt.Rule{
			{Alert: "Hot", Expr: latest + " and (" + over6 + ")", Labels: labels("severity", "critical")},
			{Alert: "Hot", Expr: latest + " and (" + over3 + ") unless (" + over6 + ")", Labels: labels("severity", "warning")},
			{Alert: "Hot", Expr: latest + " and (count_over_time(((cpu) > 1)[30s:10s]) >= 3) unless (" + over6 + ") unless (" + over3 + ")",
				Labels: labels("severity", "info")},
		}},
		{"escalate", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        escalate: 2`, []rulefmt.Rule{
			{Alert: "Hot", Expr: latest + " and (" + over6 + ")", Labels: labels("severity", "critical")},
			{Alert: "Hot", Expr: latest + " and (" + over3 + ") unless (" + over6 + ")", Labels: labels("severity", "warning")},
		}},
		{"recover reads the alert's own series", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        recover: {function: all, window: "#2", op: "<", value: 1}
        keep_firing_for: 1m
        labels: {team: "{{ $labels.t }}", "a.b": c}
        action: throttle`, []rulefmt.Rule{
			{Alert: "Hot", KeepFiringFor: model.Duration(time.Minute), Labels: labels("team", "{{ $labels.t }}", "a.b", "c", "action", "throttle"),
				Expr: "(" + latest + " and (" + over3 + ")) or ((" + latest + " unless (" + under1 + ")) and ignoring (\"a.b\", action, alertname, alertstate, group, team)" +
					` ALERTS{alertname="Hot",alertstate="firing",nodata=""})`},
		}},
		{"recover with levels: per severity, unless another holds", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        escalate: 2
        recover: {function: all, window: "#2", op: "<", value: 1}`, []rulefmt.Rule{
			{Alert: "Hot", Labels: labels("severity", "critical"),
				Expr: "(" + latest + " and (" + over6 + ")) or ((" + latest + " unless (" + under1 + ")) and ignoring (alertname, alertstate, group, severity)" +
					` ALERTS{alertname="Hot",alertstate="firing",nodata="",severity="critical"} unless (` + over3 + "))"},
			{Alert: "Hot", Labels: labels("severity", "warning"),
				Expr: "(" + latest + " and (" + over3 + ") unless (" + over6 + ")) or ((" + latest + " unless (" + under1 + ")) and ignoring (alertname, alertstate, group, severity)" +
					` ALERTS{alertname="Hot",alertstate="firing",nodata="",severity="warning"} unless (` + over6 + "))"},
		}},
		{"nodata condition: absent series have no latest value", `
      - alert: Gone
        expr: cpu
        condition: {function: nodata, window: 30s}`, []rulefmt.Rule{
			{Alert: "Gone", Expr: "last_over_time((cpu)[1m30s:10s] offset 30s) unless present_over_time((cpu)[30s:10s])"},
		}},
		{"nodata block: same name, its severity, no action", `
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        nodata: {for: 25s, severity: critical}
        for: 1m
        action: throttle
        annotations: {summary: s}`, []rulefmt.Rule{
			{Alert: "Hot", Expr: latest + " and (" + over3 + ")", For: model.Duration(time.Minute), Labels: labels("action", "throttle"), Annotations: labels("summary", "s")},
			{Alert: "Hot", Expr: "last_over_time((cpu)[1m30s:10s] offset 30s) unless present_over_time((cpu)[30s:10s])",
				Labels: labels("nodata", "true", "severity", "critical"), Annotations: labels("summary", "s")},
		}},
		{"steps: one rule each, fired at once", `
      - alert: Budget
        expr: spend / budget
        steps: [0.5, 1]
        period_label: period
        for: 1m
        action: throttle
        nodata: {for: 1m}`, []rulefmt.Rule{
			{Alert: "Budget", Expr: "(spend / budget) >= 0.5", Labels: labels("action", "throttle", "step", "0.5")},
			{Alert: "Budget", Expr: "(spend / budget) >= 1", Labels: labels("action", "throttle", "step", "1")},
			{Alert: "Budget", Expr: "last_over_time((spend / budget)[3m:10s] offset 1m) unless present_over_time((spend / budget)[1m:10s])",
				Labels: labels("nodata", "true", "severity", "warning")},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := exportOf(t, "groups:\n  - name: g\n    labels: {group: g}\n    rules:"+tc.rules+"\n")
			got := out.Groups[0].Rules
			if len(got) != len(tc.want) {
				t.Fatalf("%d rules, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Record != w.Record || g.Alert != w.Alert || g.Expr != w.Expr || g.For != w.For || g.KeepFiringFor != w.KeepFiringFor ||
					!maps.Equal(g.Labels, w.Labels) || !maps.Equal(g.Annotations, w.Annotations) {
					t.Errorf("rule %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

func TestExportGroups(t *testing.T) {
	out, _ := exportOf(t, `groups:
  - name: a
    rules: [{record: r, expr: up}]
  - name: b
    interval: 1m
    query_offset: 2m
    limit: 10
    labels: {team: llm}
    rules:
      - alert: Hot
        expr: cpu
        condition: {function: all, window: "#2", op: ">", value: 3}
`)
	a, b := out.Groups[0], out.Groups[1]
	// The default interval is written out: the forms are compiled for it.
	if a.Name != "a" || a.Interval != model.Duration(10*time.Second) || a.QueryOffset != nil || a.Limit != 0 || a.Labels != nil {
		t.Errorf("group a: %+v", a)
	}
	if b.Name != "b" || b.Interval != model.Duration(time.Minute) || *b.QueryOffset != model.Duration(2*time.Minute) || b.Limit != 10 || b.Labels["team"] != "llm" {
		t.Errorf("group b: %+v", b)
	}
	if want := "last_over_time((cpu)[1m:1m]) and (count_over_time(((cpu) > 3)[2m:1m]) >= 2)"; b.Rules[0].Expr != want {
		t.Errorf("expr at the group's interval: %s, want %s", b.Rules[0].Expr, want)
	}
}

// TestExportIsPrometheusRuleFile checks what Prometheus would load: the
// written file passes rulefmt.Parse, which parses every expression.
func TestExportIsPrometheusRuleFile(t *testing.T) {
	gs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ext, err := Parse([]byte(extFile), "ext.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []*Groups{gs, ext} {
		out, _, err := Export(src, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteRuleGroups(&b, out); err != nil {
			t.Fatal(err)
		}
		if _, errs := rulefmt.Parse(b.Bytes(), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) > 0 {
			t.Errorf("%v\n%s", errs, b.String())
		}
	}
}

func TestExportWarnings(t *testing.T) {
	_, warnings := exportOf(t, `groups:
  - name: g
    query_offset: 15s
    rules:
      - alert: LevelsFor
        expr: cpu
        condition: {function: max, window: 30s, op: ">", value: 3}
        escalate: 2
        for: 1m
      - alert: KeepOverPoints
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        recover: {function: all, window: "#3", op: "<", value: 1}
        keep_firing_for: 1m
      - alert: KeepOverPoints
        expr: cpu
        condition: {function: max, window: "#1", op: ">", value: 3}
      - alert: Steps
        expr: cpu
        steps: [1, 2]
      - alert: NoData
        expr: cpu
        nodata: {for: 1m}
      - alert: Relabelled
        expr: cpu
        action: throttle
        labels: {action: page}
  - name: fine
    query_offset: 20s
    rules:
      - alert: KeepOverDuration
        expr: cpu
        condition: {function: all, window: 30s, op: ">", value: 3}
        keep_firing_for: 1m
      - alert: LevelsWithoutFor
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 3}
        levels: [{level: 1, value: 3}]
`)
	for _, want := range []string{
		`r.yml: group "g": query_offset 15s is not a multiple of the interval 10s`,
		`r.yml: group "g", alert "LevelsFor": each level is its own Prometheus alert: after a change of level the new severity waits for 1m again; gatewarden switches at once`,
		`r.yml: group "g", alert "KeepOverPoints": a series that returns within keep_firing_for (1m) is not judged until its #3 window fills again`,
		`r.yml: group "g", alert "KeepOverPoints": recover: another rule has the same name`,
		`r.yml: group "g", alert "Steps": steps: Prometheus fires each step while the value is at or above it, not once per period; Alertmanager's repeat_interval governs re-notification`,
		`r.yml: group "g", alert "NoData": nodata: Prometheus stops alerting for a vanished series 4×1m after its last point`,
		`r.yml: group "g", alert "Relabelled": its label action="page" is replaced by its action "throttle"`,
	} {
		found := false
		for _, w := range warnings {
			found = found || strings.HasPrefix(w, want)
		}
		if !found {
			t.Errorf("no warning %q in\n%s", want, strings.Join(warnings, "\n"))
		}
	}
	if len(warnings) != 7 {
		t.Errorf("%d warnings, want 7:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
}

func TestExportErrors(t *testing.T) {
	gs, err := Parse([]byte(`groups:
  - name: g
    rules:
      - alert: NoEarlierPoint
        expr: cpu
        condition: {function: diff, window: 10s, op: ">", value: 3}
      - alert: Fine
        expr: cpu
        condition: {function: diff, window: "#2", op: ">", value: 3}
      - alert: MovingTime
        expr: cpu @ end()
        condition: {function: all, window: "#2", op: ">", value: 3}
`), "r.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Export(gs, 10*time.Second)
	for _, want := range []string{
		`r.yml: group "g", alert "NoEarlierPoint": condition: diff over 10s at a 10s interval: the window holds one evaluation`,
		`r.yml: group "g", alert "MovingTime": condition: expression uses @ start() or @ end()`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "Fine") {
		t.Errorf("error names a rule that exports: %v", err)
	}
	if _, _, err := Export(gs, 0); err == nil {
		t.Error("no error for interval 0")
	}
}
