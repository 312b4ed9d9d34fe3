package evaluator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	prules "github.com/prometheus/prometheus/rules"

	"github.com/gatewarden/gatewarden/rules"
)

// exportData is loaded into both sides' stores: m crosses thresholds up
// and down, has a gap longer than the lookback, zeros and a series that
// starts late; the gateway metrics drive the built-in pack through its
// thresholds, a master and a plugin instance vanish while alerting, a
// budget period changes.
const exportData = `
load 10s
  m{s="wave"}   0+1x10 9-1x9 0+2.5x4 7.5-2.5x3 0+1x10 9-1x9 0+1x10 9-1x9 0+1x10 9-1x9 0+2.5x4 7.5-2.5x3 0+1x10 9-1x9 0+1x10 9-1x9 0+1x10 9-1x9 0+1x10 9-1x9 0+1x10
  m{s="gap"}    1+1x10 _x35 5+0.5x20 stale _x5 3 3 3 8 8 8 9 9 9 0 0 3 6x20 stale _x10 8x30 2x30
  m{s="vanish"} 8 2 9 1 10 0 7 3 6 4 5 5 5 5 9 9 9 9 9 stale _x40 9 9 9 9 9 9 9 9 stale
  m{s="late"}   _x60 -5+1x30 25-5x8 5x20 1 9 1 9 1 9 1 9 3x40
  m{s="blink"}  9x10 stale _x1 9x5 stale _x2 9x5 stale _x3 9x5 stale _x4 9x5 1x20 stale _x4 8x10 1x30 9x5 stale _x2 1x5
  m{s="step"}   1x10 4x10 9x10 6x10 3x5 9x10 1x10 2 3 4 5 6 7 8 9 10 11 stale
  budget{period="p1"} 0.1+0.1x12 stale
  budget{period="p2"} _x14 0.2+0.1x8 0.95x40
  gateway_plugin_cpu_usage_ratio{tenant_id="t1",plugin_id="p1",instance_id="i1"} 0.5x5 0.9x5 0.75x6 0.6x3 0.75 0.65x3 0.5x5 0.85x4 0.5 0.85x3 0.6x2 0.9x8 0.72x20 0.3x40 0.95x10 stale _x20 0.9x10 stale _x4 0.5x20
  gateway_plugin_cpu_usage_ratio{tenant_id="t1",plugin_id="p1",instance_id="i2"} 0.2x10 0.95x10 stale
  gateway_requests_total{master="m1",code="200"} 0+10x60 610+40x30 1850+10x60 2460+50x10 2970+10x80
  gateway_requests_total{master="m1",code="500"} 0+0x60 0+5x30 155+15x20 455+0x100
  gateway_requests_total{master="m2",code="200"} 0+20x90 stale _x80 1820+20x60
  gateway_tokens_total{master="m1",direction="input"} 0+500x60 30000+1500x30 75000+2000x20 115000+500x130
  gateway_master_limit_rpm{master="m1"} 300x240
  gateway_master_limit_tpm{master="m1"} 10000x240
  gateway_request_duration_seconds_bucket{master="m1",provider="p",le="1"}    0+10x60 610+1x40 651+10x140
  gateway_request_duration_seconds_bucket{master="m1",provider="p",le="10"}   0+10x60 610+2x40 692+10x140
  gateway_request_duration_seconds_bucket{master="m1",provider="p",le="30"}   0+10x60 610+12x20 852+3x20 913+10x140
  gateway_request_duration_seconds_bucket{master="m1",provider="p",le="60"}   0+10x60 610+22x20 1052+3x20 1113+10x140
  gateway_request_duration_seconds_bucket{master="m1",provider="p",le="+Inf"} 0+10x60 610+22x20 1052+3x20 1113+10x140
  gateway_spend_usd_total{master="m1"} 0+1x240
  gateway_master_budget_usd{master="m1",period="2026-11"} 100x120 stale
  gateway_master_budget_usd{master="m1",period="2026-12"} _x123 200x120
  gateway_requests_total{master="m1",code="429"} 0x200 10+10x19 200x20
  gateway_key_enabled{master="m1",key="m1-k1"} 1x30 0x20 1x190
  gateway_key_expires_timestamp_seconds{master="m1",key="m1-k1"} 600x240
  gateway_key_expires_timestamp_seconds{master="m1",key="m1-k2"} 1e9x240
  gateway_provider_up{provider="p"} 1x40 0x10 1x190
  up{job="gateway",instance="gw:9300"} 1x30 0x12 1x20 0x3 1x200
`

// exportEnd is the last evaluation: long enough for vanished series to be
// forgotten by the exported nodata forms.
const exportEnd = 40 * time.Minute

const exportInterval = 10 * time.Second

// exportCases cover every form Export claims exact: each window function,
// for, keep_firing_for, group labels, templated labels, another interval
// with a query_offset, levels, escalate, recovery with and without levels
// and with the observation window, nodata as a condition; and, apart, the
// approximations: nodata blocks and steps.
var exportCases = []exportCase{
	{"functions", `groups:
  - name: functions
    labels: {team: llm}
    rules:
      - alert: All
        expr: m
        condition: {function: all, window: "#3", op: ">", value: 5}
      - alert: AllFor
        expr: m
        condition: {function: all, window: 50s, op: ">=", value: 5}
        for: 30s
      - alert: Happen
        expr: m
        condition: {function: happen, window: "#5", op: ">", value: 6, count: 2}
        keep_firing_for: 1m
      - alert: Max
        expr: m
        condition: {function: max, window: 1m, op: ">", value: 8}
        labels: {severity: page, source: "{{ $labels.s }}"}
      - alert: Min
        expr: m
        condition: {function: min, window: "#4", op: "<", value: 2}
      - alert: Avg
        expr: m
        condition: {function: avg, window: "#2", op: "==", value: 5}
      - alert: Sum
        expr: sum by (s) (m)
        condition: {function: sum, window: 30s, op: ">=", value: 20}
        action: throttle
      - alert: Diff
        expr: m
        condition: {function: diff, window: "#3", op: ">", value: 3}
      - alert: PDiff
        expr: m
        condition: {function: pdiff, window: 1m, op: "<", value: -50}
      - alert: Plain
        expr: m > 8
        for: 10s
  - name: slower
    interval: 20s
    query_offset: 20s
    rules:
      - alert: Slow
        expr: m
        condition: {function: all, window: 1m, op: ">", value: 3}
        keep_firing_for: 40s
`, []string{"Happen"}},
	{"levels", `groups:
  - name: levels
    rules:
      - alert: Levels
        expr: m
        condition: {function: max, window: "#2", op: ">", value: 0}
        levels: [{level: 3, value: 2}, {level: 1, value: 8}, {level: 2, value: 5}]
        action: throttle
      - alert: Escalate
        expr: m
        condition: {function: avg, window: "#2", op: ">=", value: 3}
        escalate: 2
      - alert: Below
        expr: m
        condition: {function: min, window: 30s, op: "<", value: 0}
        levels: [{level: 2, value: 4}, {level: 1, value: 1}]
`, nil},
	{"recover", `groups:
  - name: recover
    rules:
      - alert: Recover
        expr: m
        condition: {function: all, window: "#3", op: ">", value: 7}
        recover: {function: all, window: "#2", op: "<", value: 4}
      - alert: RecoverKeep
        expr: m
        condition: {function: all, window: "#2", op: ">", value: 7}
        recover: {function: max, window: 30s, op: "<", value: 5}
        keep_firing_for: 30s
        for: 20s
        labels: {severity: critical}
        action: throttle
      - alert: RecoverLevels
        expr: m
        condition: {function: max, window: "#1", op: ">", value: 4}
        escalate: 2
        recover: {function: max, window: "#2", op: "<", value: 2}
`, []string{"RecoverKeep"}},
	{"nodata condition", `groups:
  - name: nodata
    rules:
      - alert: NoData
        expr: m
        condition: {function: nodata, window: "#3"}
        for: 20s
      - alert: NoDataOverDuration
        expr: sum by (s) (m)
        condition: {function: nodata, window: 30s}
      - alert: RecoverNoData
        expr: m
        condition: {function: nodata, window: "#2"}
        recover: {function: min, window: "#2", op: ">", value: 4}
`, nil},
	{"approximations", `groups:
  - name: approximations
    rules:
      - alert: Silent
        expr: m
        condition: {function: max, window: "#1", op: ">", value: 1e9}
        nodata: {for: 30s, severity: critical}
      - alert: Steps
        expr: m
        steps: [2, 5, 8]
        action: throttle
        nodata: {for: 1m}
      - alert: PeriodSteps
        expr: budget
        steps: [0.5, 0.9]
        period_label: period
`, []string{"Silent", "Steps", "PeriodSteps"}},
}

// plainComparisons generates Prometheus rules with the threshold in the
// expression, which the evaluator splits into a shared query and its own
// comparison (plan.go): every operator, the number on either side and in
// parentheses, over plain series, a ratio that turns NaN where m is 0,
// and several groups asking for the same vector, with and without for.
func plainComparisons() string {
	var b strings.Builder
	b.WriteString("groups:\n")
	ops := []string{">", ">=", "<", "<=", "==", "!="}
	for g, x := range []string{"m", "sum by (s) (m)", "m / m", "max_over_time(m[30s])"} {
		fmt.Fprintf(&b, "  - name: plain%d\n    rules:\n", g)
		for i, op := range ops {
			for _, k := range []int{1, 5, 9} {
				expr := fmt.Sprintf("%s %s %d", x, op, k)
				switch (i + k) % 3 {
				case 1:
					expr = fmt.Sprintf("%d %s %s", k, mirrored[op], x)
				case 2:
					expr = fmt.Sprintf("(%s) %s (%d)", x, op, k)
				}
				if x == "m / m" && (k != 1 || op == ">" || op == "<") {
					continue // 1 or NaN: of > and < nothing fires; != 1 keeps the NaN
				}
				forClause := ""
				if k == 5 {
					forClause = "\n        for: 20s"
				}
				fmt.Fprintf(&b, "      - alert: P%d_%d_%d\n        expr: %s%s\n", g, i, k, expr, forClause)
			}
		}
	}
	return b.String()
}

// mirrored is the operator that compares the other way round: k < x is
// x > k.
var mirrored = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}

// TestExportAgreesWithEvaluator is the differential test of rules.Export:
// at every evaluation the firing alerts of gatewarden's evaluator and of
// Prometheus's rules package running the exported rules, each over its
// own copy of the data (each writes its ALERTS series), are the same, but
// for the differences Export documents, each checked to be exactly that.
func TestExportAgreesWithEvaluator(t *testing.T) {
	// The built-in traffic limits are production-sized, the data are not:
	// scale the limits down so every level of those rules is exercised.
	builtin := strings.NewReplacer(
		"value: 500}", "value: 3}",
		"value: 600, min: 10}", "value: 100, min: 10}",
		"value: 1000000, min: 1000}", "value: 5000, min: 1000}",
		"value: 100000}", "value: 1000}",
		"value: 100000000}", "value: 50000}",
	).Replace(string(rules.BuiltinSource()))
	cases := append(slices.Clone(exportCases), exportCase{"builtin", builtin, []string{"GatewayBudgetStep", "PluginCPUHigh"}},
		exportCase{"plain comparisons", plainComparisons(), nil})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gs, err := rules.Parse([]byte(tc.rules), "rules.yml")
			if err != nil {
				t.Fatal(err)
			}
			exported, warnings, err := rules.Export(gs, exportInterval)
			if err != nil {
				t.Fatal(err)
			}
			checkWarned(t, gs, warnings, tc.approximate)
			ours, theirs := newOurSide(t, tc.rules), newPrometheusSide(t, exported)
			fired := map[string][2]bool{} // by rule and by rule/severity: on each side
			excused := map[string]int{}   // by rule
			bad := 0
			report := func(ts time.Time, format string, args ...any) {
				if bad++; bad <= 5 {
					t.Errorf("%s: "+format, append([]any{ts.Format(time.TimeOnly)}, args...)...)
				}
			}
			for ts := time.Unix(0, 0).UTC(); !ts.After(time.Unix(0, 0).Add(exportEnd)); ts = ts.Add(exportInterval) {
				mine, prom := ours.firing(ts), theirs.firing(ts)
				for k, a := range mine {
					_, both := prom[k]
					switch {
					case !both && (a.mayLack || ours.frozen(a, ts)):
						excused[a.rule]++
					case !both:
						report(ts, "only gatewarden fires %s", k)
					}
					a.count(fired, 0)
				}
				for k, a := range prom {
					_, both := mine[k]
					switch {
					case !both && ours.frozen(a, ts):
						excused[a.rule]++
					case !both:
						report(ts, "only Prometheus fires %s", k)
					}
					a.count(fired, 1)
				}
			}
			checkExercised(t, gs, tc.approximate, fired, excused)
		})
	}
}

// checkExercised requires the comparison to be neither vacuous nor short
// of its purpose: every rule and level fired on both sides, every
// approximation showed its difference.
func checkExercised(t *testing.T, gs *rules.Groups, approximate []string, fired map[string][2]bool, excused map[string]int) {
	t.Helper()
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			want := []string{r.Alert}
			for _, l := range r.EffectiveLevels() {
				want = append(want, r.Alert+"/"+l.Level.String())
			}
			for _, k := range want {
				if r.IsAlert() && fired[k] != [2]bool{true, true} {
					t.Errorf("%s never fired on both sides (gatewarden, Prometheus: %v): the data miss it", k, fired[k])
				}
			}
		}
	}
	for _, name := range approximate {
		if excused[name] == 0 {
			t.Errorf("%s: its documented difference never showed: the data miss it", name)
		}
	}
}

type exportCase struct {
	name, rules string
	approximate []string // the rules Export must warn about
}

// checkWarned requires Export to warn about the approximate rules and no
// other.
func checkWarned(t *testing.T, gs *rules.Groups, warnings, approximate []string) {
	t.Helper()
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			warned := slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, `alert "`+r.Alert+`"`) })
			if want := slices.Contains(approximate, r.Alert); warned != want {
				t.Errorf("%s: warned %v, want %v; warnings: %q", r.Alert, warned, want, warnings)
			}
		}
	}
}

// firingAlert is what the comparison needs of a firing alert.
type firingAlert struct {
	rule   string
	labels labels.Labels
	// mayLack: a documented difference explains Prometheus lacking it.
	mayLack bool
}

func (a firingAlert) count(fired map[string][2]bool, side int) {
	for _, k := range []string{a.rule, a.rule + "/" + a.labels.Get("severity")} {
		f := fired[k]
		f[side] = true
		fired[k] = f
	}
}

// ourSide is gatewarden's evaluator over its copy of the data.
type ourSide struct {
	h     *harness
	rules map[string]ruleInfo // by alert name
	// unjudged is the last evaluation at which a present series was not
	// judged, by alert name and series.
	unjudged map[string]time.Time
}

type ruleInfo struct {
	rule     *rules.Rule
	interval time.Duration
	set      []string // the labels an alert has over its series'
}

func newOurSide(t *testing.T, ruleYAML string) ourSide {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yml"), ruleYAML)
	h := &harness{t: t, db: promqltest.LoadedStorage(t, exportData).DB, dir: dir, resend: time.Hour}
	h.m = h.manager()
	o := ourSide{h: h, rules: map[string]ruleInfo{}, unjudged: map[string]time.Time{}}
	for _, g := range h.m.Groups() {
		for _, r := range g.rules {
			set := append([]string{labels.AlertName, "severity", "action"}, slices.Collect(maps.Keys(r.Labels))...)
			o.rules[r.Alert] = ruleInfo{rule: r, interval: g.interval, set: append(set, slices.Collect(maps.Keys(g.labels))...)}
		}
	}
	return o
}

// series identifies the series of a rule's main alert, or of its target.
func (o ourSide) series(rule string, ls labels.Labels) string {
	return rule + "|" + labels.NewBuilder(ls).Del(o.rules[rule].set...).Labels().String()
}

// firing evaluates the groups due at ts and returns the firing alerts by
// labels. Prometheus may lack, as documented, a nodata block's alert for a
// series gone NoDataMemory windows, and a step alert for a series absent
// or below the step.
func (o ourSide) firing(ts time.Time) map[string]firingAlert {
	out := map[string]firingAlert{}
	for _, g := range o.h.m.Groups() {
		if ts.UnixMilli()%g.interval.Milliseconds() != 0 {
			continue
		}
		g.Eval(context.Background(), ts, o.h.m)
		for i, ar := range g.alerting {
			if ar == nil {
				continue
			}
			r := g.rules[i]
			add := func(a *Alert, mayLack bool) {
				if a != nil && !a.Resolved() && a.State == StateFiring {
					// A period's start is gatewarden's own label (periods
					// are gatewarden's accounting); exported rules lack it.
					ls := labels.NewBuilder(a.Labels).Del(PeriodStartLabel).Labels()
					out[ls.String()] = firingAlert{rule: r.Alert, labels: ls, mayLack: mayLack}
				}
			}
			for _, tg := range ar.targets {
				if c := r.Condition; c != nil && tg.LastSeen.Equal(ts) {
					// Over the points of the window's span, as Span says the
					// evaluator judges; the threshold does not matter.
					now := ts.UnixMilli()
					if _, judged := c.Judge(rules.Window{Duration: c.Window.Span(g.interval)}.Select(tg.Points, now), now, c.Value); !judged {
						o.unjudged[o.series(r.Alert, tg.Labels)] = ts
					}
				}
				add(tg.Alert, false)
				if nd := r.NoData; nd != nil {
					add(tg.NoData, ts.Sub(tg.LastSeen) >= rules.NoDataMemory*rules.Window{Duration: time.Duration(nd.For)}.Span(g.interval))
				}
				for _, a := range tg.StepAlerts {
					add(a, !tg.LastSeen.Equal(ts) || !(tg.Value >= a.Steps[0]))
				}
			}
		}
	}
	return out
}

// frozen tells whether either side may have a's main alert alone, as
// documented: while its series is present but not judged (returning
// within keep_firing_for, or pdiff over zeros), gatewarden leaves the
// alert as it is and Prometheus takes the condition as not holding, so
// they may start (for) and end (keep_firing_for) it at other times.
func (o ourSide) frozen(a firingAlert, ts time.Time) bool {
	if a.labels.Has("nodata") || a.labels.Has("step") {
		return false
	}
	r := o.rules[a.rule]
	if c := r.rule.Condition; c == nil || r.rule.KeepFiringFor == 0 && c.Func != rules.FuncPDiff {
		return false // elsewhere, not judged follows an absence, which ends alerts on both sides
	}
	since, ok := o.unjudged[o.series(a.rule, a.labels)]
	return ok && ts.Sub(since) < time.Duration(r.rule.For)+time.Duration(r.rule.KeepFiringFor)+r.interval
}

// prometheusSide is Prometheus's rules package running the exported rules
// from the file Export's YAML makes, over its copy of the data.
type prometheusSide struct{ groups []*prules.Group }

func newPrometheusSide(t *testing.T, exported *rulefmt.RuleGroups) prometheusSide {
	var b bytes.Buffer
	if err := rules.WriteRuleGroups(&b, exported); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "exported.yml")
	writeFile(t, file, b.String())
	st := promqltest.LoadedStorage(t, exportData)
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, EnableAtModifier: true, Parser: parser.NewParser(parser.Options{}),
	})
	m := prules.NewManager(&prules.ManagerOptions{
		Appendable: st, Queryable: st, QueryFunc: prules.EngineQueryFunc(engine, st),
		NotifyFunc: func(context.Context, string, ...*prules.Alert) {}, Context: context.Background(),
		Logger: slog.New(slog.DiscardHandler), Parser: parser.NewParser(parser.Options{}),
	})
	loaded, errs := m.LoadGroups(exportInterval, labels.EmptyLabels(), "", nil, false, file)
	if len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, b.String())
	}
	var p prometheusSide
	for _, k := range slices.Sorted(maps.Keys(loaded)) {
		g := loaded[k]
		for _, r := range g.Rules() {
			if ar, ok := r.(*prules.AlertingRule); ok {
				// As if restored after a restart: alerting rules write
				// ALERTS, which recovery reads, only then.
				ar.SetRestored(true)
			}
		}
		p.groups = append(p.groups, g)
	}
	return p
}

// firing evaluates the groups due at ts and returns the firing alerts,
// without the action label Export adds.
func (p prometheusSide) firing(ts time.Time) map[string]firingAlert {
	out := map[string]firingAlert{}
	for _, g := range p.groups {
		if ts.UnixMilli()%g.Interval().Milliseconds() != 0 {
			continue
		}
		g.Eval(context.Background(), ts)
		for _, r := range g.Rules() {
			ar, ok := r.(*prules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State == prules.StateFiring {
					ls := labels.NewBuilder(a.Labels).Del("action").Labels()
					out[ls.String()] = firingAlert{rule: ar.Name(), labels: ls}
				}
			}
		}
	}
	return out
}
