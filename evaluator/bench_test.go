package evaluator

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	prules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/collector"
	"github.com/gatewarden/gatewarden/config"
)

// benchDB holds 100k request series, 100 masters × 10 keys × 10 providers ×
// 10 codes, seven samples 10 s apart ending at the returned time.
func benchDB(b *testing.B) (*tsdb.DB, time.Time) {
	b.Helper()
	opts := tsdb.DefaultOptions()
	db, err := tsdb.Open(b.TempDir(), nil, nil, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	var series []labels.Labels
	for m := range 100 {
		for k := range 10 {
			for p := range 10 {
				for c := range 10 {
					series = append(series, labels.FromStrings("__name__", "gateway_requests_total", "master", fmt.Sprintf("m%d", m),
						"key", fmt.Sprintf("m%d-k%d", m, k), "provider", fmt.Sprintf("p%d", p), "code", fmt.Sprintf("%d", 200+c)))
				}
			}
		}
	}
	end := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for s := range 7 {
		app := db.Appender(context.Background())
		ts := end.Add(time.Duration(s-6) * 10 * time.Second).UnixMilli()
		for i, ls := range series {
			if _, err := app.Append(0, ls, ts, float64(s*(i%50))); err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return db, end
}

func benchEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 5e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: parser.NewParser(parser.Options{})})
}

// benchRules writes 10 groups of 100 alerting rules; rule(g, r) gives each
// rule's body after "- alert: ...".
func benchRules(b *testing.B, rule func(g, r int) string) string {
	var sb strings.Builder
	sb.WriteString("groups:\n")
	for g := range 10 {
		fmt.Fprintf(&sb, "  - name: g%d\n    rules:\n", g)
		for r := range 100 {
			fmt.Fprintf(&sb, "      - alert: A%d_%d\n%s", g, r, rule(g, r))
		}
	}
	f := filepath.Join(b.TempDir(), "rules.yml")
	if err := os.WriteFile(f, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

func benchManager(b *testing.B, db *tsdb.DB, ruleFile string) *Manager {
	m := NewManager(Options{Queryable: db, Appendable: db, Engine: benchEngine()})
	cfg, err := config.Load([]byte("rule_files: ["+ruleFile+"]\n"), "")
	if err != nil {
		b.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		b.Fatal(err)
	}
	return m
}

func providerExpr(p int) string {
	return fmt.Sprintf(`sum by (master) (rate(gateway_requests_total{provider="p%d"}[1m]))`, p)
}

// BenchmarkSharedExpressions: 1,000 thresholds over 10 expressions, the
// common gateway case. Target: one full cycle ≤ 1 s on one core (-cpu 1).
func BenchmarkSharedExpressions(b *testing.B) {
	db, end := benchDB(b)
	m := benchManager(b, db, benchRules(b, func(g, r int) string {
		return fmt.Sprintf("        expr: '%s'\n        condition: {function: max, window: \"#1\", op: \">\", value: %d}\n", providerExpr(r%10), g*100+r)
	}))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.EvalAt(context.Background(), end.Add(time.Duration(i)*time.Millisecond))
	}
}

// plainExpr is a Prometheus rule's expression with its threshold in it,
// as users write them: 1,000 rules over 10 vectors, which the evaluator's
// plans share (plan.go).
func plainExpr(g, r int) string { return fmt.Sprintf("%s > %d", providerExpr(r%10), g*100+r) }

// distinctExpr gives every rule a vector of its own: master r and
// provider g, a pair no other rule has, so nothing is shared.
func distinctExpr(g, r int) string {
	return fmt.Sprintf(`sum by (key) (rate(gateway_requests_total{master="m%d",provider="p%d"}[1m])) > %d`, r, g, r%7)
}

// BenchmarkPlainThresholds: 1,000 Prometheus rules, the threshold in each
// expression, over 10 vectors.
func BenchmarkPlainThresholds(b *testing.B) { benchPlainRules(b, plainExpr) }

// BenchmarkDistinctExpressions: 1,000 rules, each its own vector.
func BenchmarkDistinctExpressions(b *testing.B) { benchPlainRules(b, distinctExpr) }

// BenchmarkPrometheusPlainThresholds and BenchmarkPrometheusDistinctExpressions
// run the same rules through Prometheus's own rules package, on the same
// data and engine settings, for the figure beside ours.
func BenchmarkPrometheusPlainThresholds(b *testing.B)     { benchPrometheusRules(b, plainExpr) }
func BenchmarkPrometheusDistinctExpressions(b *testing.B) { benchPrometheusRules(b, distinctExpr) }

func benchPlainRules(b *testing.B, expr func(g, r int) string) {
	db, end := benchDB(b)
	m := benchManager(b, db, benchRules(b, func(g, r int) string { return fmt.Sprintf("        expr: '%s'\n", expr(g, r)) }))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.EvalAt(context.Background(), end.Add(time.Duration(i)*time.Millisecond))
	}
}

func benchPrometheusRules(b *testing.B, expr func(g, r int) string) {
	db, end := benchDB(b)
	engine := benchEngine()
	opts := &prules.ManagerOptions{
		Appendable: db, Queryable: db, QueryFunc: prules.EngineQueryFunc(engine, db),
		NotifyFunc: func(context.Context, string, ...*prules.Alert) {}, Context: context.Background(),
		Logger: slog.New(slog.DiscardHandler), Metrics: prules.NewGroupMetrics(nil), Parser: parser.NewParser(parser.Options{}),
	}
	var groups []*prules.Group
	for g := range 10 {
		var rs []prules.Rule
		for r := range 100 {
			e, err := parser.NewParser(parser.Options{}).ParseExpr(expr(g, r))
			if err != nil {
				b.Fatal(err)
			}
			rs = append(rs, prules.NewAlertingRule(fmt.Sprintf("A%d_%d", g, r), e, 0, 0, labels.EmptyLabels(), labels.EmptyLabels(), labels.EmptyLabels(), "", false, nil))
		}
		groups = append(groups, prules.NewGroup(prules.GroupOptions{Name: fmt.Sprint(g), File: "bench", Interval: 10 * time.Second, Rules: rs, Opts: opts}))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, g := range groups {
			g.Eval(context.Background(), end.Add(time.Duration(i)*time.Millisecond))
		}
	}
}

// BenchmarkDetectionLatency measures from a scrape landing (the collector's
// event) to the alert handed to the notifier, through the group loop, with
// 5,000 plugin instances (500 samples/s at 10 s) under all over #3.
func BenchmarkDetectionLatency(b *testing.B) {
	dir := b.TempDir()
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	f := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(f, []byte(`groups:
  - name: cpu
    rules:
      - alert: PluginCPUHigh
        expr: gateway_plugin_cpu_usage_ratio
        condition: {function: all, window: "#3", op: ">", value: 0.8}
`), 0o600); err != nil {
		b.Fatal(err)
	}
	notified := make(chan struct{}, 1)
	m := NewManager(Options{Queryable: db, Appendable: db, Engine: benchEngine(), ResendDelay: time.Nanosecond,
		Notify: func(context.Context, []*Alert) { notified <- struct{}{} }})
	cfg, _ := config.Load([]byte("global: {evaluation_interval: 10s}\nrule_files: ["+f+"]\n"), "")
	if err := m.ApplyConfig(cfg); err != nil {
		b.Fatal(err)
	}
	var instances []labels.Labels
	for i := range 5000 {
		instances = append(instances, labels.FromStrings("__name__", "gateway_plugin_cpu_usage_ratio", "tenant_id", fmt.Sprintf("t%d", i/100),
			"plugin_id", fmt.Sprintf("p%d", i/10), "instance_id", fmt.Sprintf("i%d", i)))
	}
	base := time.Now()
	scrape := func(i int) collector.Event {
		ts := base.Add(time.Duration(i) * 10 * time.Second)
		app := db.Appender(context.Background())
		for j, ls := range instances {
			v := 0.4
			if j == 0 {
				v = 0.95 // one hot instance: its alert is sent every evaluation
			}
			if _, err := app.Append(0, ls, ts.UnixMilli(), v); err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
		return collector.Event{Time: ts, Metrics: []string{"gateway_plugin_cpu_usage_ratio"}}
	}
	for i := range 3 { // the window fills: the third sample fires
		m.EvalAt(context.Background(), scrape(i).Time)
	}
	<-notified
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	var total time.Duration
	for i := 3; b.Loop(); i++ {
		e := scrape(i)
		start := time.Now()
		m.OnScrape(e)
		<-notified
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/detection")
}
