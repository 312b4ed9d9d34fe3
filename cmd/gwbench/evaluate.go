package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

type evaluateOpts struct {
	rules    []int
	series   int
	interval time.Duration
	cycles   int
}

const rulesPerGroup = 100

// ruleFile writes n alerting rules in groups of 100 over 10 expressions
// shared between them, each rule its own threshold: the gateway's common
// case (one query per expression per cycle, docs/benchmarks.md). The
// thresholds are out of reach, so the figure is evaluation, not
// notification.
func ruleFile(n int) string {
	providers := []string{"openai", "anthropic", "gemini", "mistral", "deepseek"}
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := range n {
		if i%rulesPerGroup == 0 {
			fmt.Fprintf(&b, "  - name: bench-%03d\n    rules:\n", i/rulesPerGroup)
		}
		code := []string{"200", "500"}[(i/len(providers))%2]
		fmt.Fprintf(&b, "      - alert: BenchRule%05d\n", i)
		fmt.Fprintf(&b, "        expr: 'sum by (master) (rate(gateway_requests_total{provider=%q,code=%q}[1m]))'\n", providers[i%len(providers)], code)
		fmt.Fprintf(&b, "        condition: {function: max, window: \"#1\", op: \">\", value: %d}\n", 1_000_000+i)
	}
	return b.String()
}

// runEvaluate keeps one gatewaysim of o.series series and starts a
// gatewarden per rule count. A cycle is timed once every group has
// evaluated again, from its timestamp (the scrape that triggered it) to the
// end of the last group: wall time, since the groups run concurrently and
// wait on each other's queries of a shared expression, so their own
// durations overlap and cannot be added.
func runEvaluate(ctx context.Context, e *env, o evaluateOpts, r *Report) error {
	pop := populationFor(o.series)
	sim, err := e.startSim(ctx, pop)
	if err != nil {
		return err
	}
	defer sim.stop()
	for _, n := range o.rules {
		if err := evaluateOne(ctx, e, o, sim, pop, n, r); err != nil {
			return fmt.Errorf("evaluate %d rules: %w", n, err)
		}
	}
	return nil
}

func evaluateOne(ctx context.Context, e *env, o evaluateOpts, sim *proc, pop population, n int, r *Report) error {
	e.logf("evaluate: %d rules over %d series, every %s, %d cycles", n, pop.series(), o.interval, o.cycles)
	cfg := scrapeConfig(sim, o.interval) + "rule_files: [rules.yml]\n"
	gw, err := e.startGatewarden(ctx, "evaluate", cfg, map[string]string{"rules.yml": ruleFile(n)})
	if err != nil {
		return err
	}
	defer gw.stop()
	groups := (n + rulesPerGroup - 1) / rulesPerGroup
	// The first cycles see one sample or none: rate() has nothing to
	// compute, so they are not counted.
	var cycles []float64
	var mark float64
	timeout := time.Duration(o.cycles+4)*o.interval*3 + 2*time.Minute
	err = waitFor(ctx, timeout, o.interval/10, fmt.Sprintf("%d evaluation cycles", o.cycles), func() (bool, error) {
		ms, err := e.metrics(gw)
		if err != nil {
			return false, err
		}
		evals, last, took := ms.byLabel("gatewarden_rule_group_evaluations_total", "rule_group"),
			ms.byLabel("gatewarden_rule_group_last_evaluation_timestamp_seconds", "rule_group"),
			ms.byLabel("gatewarden_rule_group_last_duration_seconds", "rule_group")
		// Only cycles whose groups all ran at one timestamp count: those a
		// scrape triggers. Timer-driven ones (before the first scrapes,
		// or without them) fall on the second and may straddle two.
		if len(evals) < groups || minValue(evals) < 3 || minValue(last) <= mark || minValue(last) != maxValue(last) {
			return false, nil
		}
		mark = maxValue(last)
		end := math.Inf(-1)
		for g, ts := range last {
			end = math.Max(end, ts+took[g])
		}
		cycles = append(cycles, end-minValue(last))
		return len(cycles) >= o.cycles, nil
	})
	if err != nil {
		return err
	}
	rss, err := gw.rss()
	if err != nil {
		return err
	}
	slices.Sort(cycles)
	ctxt := fmt.Sprintf("%d groups, %d series, median of %d cycles, scrape to the last group's end", groups, pop.series(), len(cycles))
	r.add(Figure{Key: "evaluate.cycle", Size: n, Value: cycles[len(cycles)/2], Unit: "s", Context: ctxt})
	r.add(Figure{Key: "evaluate.cycle_max", Size: n, Value: cycles[len(cycles)-1], Unit: "s", Context: ctxt})
	r.add(Figure{Key: "evaluate.rss", Size: n, Value: rss, Unit: "B"})
	return nil
}

func minValue(m map[string]float64) float64 {
	v := math.Inf(1)
	for _, x := range m {
		v = math.Min(v, x)
	}
	return v
}

func maxValue(m map[string]float64) float64 {
	v := math.Inf(-1)
	for _, x := range m {
		v = math.Max(v, x)
	}
	return v
}
