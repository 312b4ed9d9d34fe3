package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// rulesPromOpts: Prometheus rule files as users bring them, run by
// gatewarden and by Prometheus itself side by side on one target.
type rulesPromOpts struct {
	prometheus string // the Prometheus binary (make prometheus)
	rules      int
	series     int
	interval   time.Duration
	duration   time.Duration
}

// plainRuleFile writes n Prometheus alerting rules in groups of 100, the
// threshold in each expression: rule r of group g is
// sum by (master) (rate(gateway_requests_total{provider="<g%5>"}[1m])) > r.
func plainRuleFile(n int) string {
	providers := []string{"openai", "anthropic", "gemini", "mistral", "deepseek"}
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := range n {
		g, r := i/rulesPerGroup, i%rulesPerGroup
		if r == 0 {
			fmt.Fprintf(&b, "  - name: plain-%03d\n    rules:\n", g)
		}
		fmt.Fprintf(&b, "      - alert: Plain%05d\n", i)
		fmt.Fprintf(&b, "        expr: 'sum by (master) (rate(gateway_requests_total{provider=%q}[1m])) > %d'\n", providers[g%len(providers)], r)
	}
	return b.String()
}

// groupSampler gathers one process's rule group figures: each sample of
// every group's last evaluation time, and its evaluations (or missed
// iterations) counted from the first sample to the last.
type groupSampler struct {
	durations     []float64
	first, last   map[string]float64 // the counter by group
	missedMetric  string             // Prometheus counts its missed iterations
	durationName  string
	iterationName string
}

func (s *groupSampler) sample(ms samples) {
	for _, d := range ms.byLabel(s.durationName, "rule_group") {
		if d > 0 {
			s.durations = append(s.durations, d)
		}
	}
	counts := ms.byLabel(s.iterationName, "rule_group")
	if s.missedMetric != "" {
		counts = ms.byLabel(s.missedMetric, "rule_group")
	}
	if s.first == nil {
		s.first = counts
	}
	s.last = counts
}

// delta is how much the counter grew per group over the window, summed.
func (s *groupSampler) delta() float64 {
	total := 0.0
	for g, v := range s.last {
		total += v - s.first[g]
	}
	return total
}

func (s *groupSampler) median() float64 {
	if len(s.durations) == 0 {
		return 0
	}
	slices.Sort(s.durations)
	return s.durations[len(s.durations)/2]
}

func runRulesProm(ctx context.Context, e *env, o rulesPromOpts, r *Report) error {
	if o.prometheus == "" {
		return fmt.Errorf("rules-prom runs Prometheus beside gatewarden: build it (make prometheus) and pass --prometheus=bin/prometheus")
	}
	pop := populationFor(o.series)
	sim, err := e.startSim(ctx, pop)
	if err != nil {
		return err
	}
	defer sim.stop()
	e.logf("rules-prom: %d plain rules over %d series, every %s, for %s, gatewarden and Prometheus side by side", o.rules, pop.series(), o.interval, o.duration)
	cfg := scrapeConfig(sim, o.interval) + "rule_files: [rules.yml]\n"
	files := func() map[string]string { return map[string]string{"rules.yml": plainRuleFile(o.rules)} }
	gw, err := e.startGatewarden(ctx, "rules-prom", cfg, files())
	if err != nil {
		return err
	}
	defer gw.stop()
	prom, err := e.startPrometheus(ctx, o.prometheus, cfg, files())
	if err != nil {
		return err
	}
	defer prom.stop()
	ours := &groupSampler{durationName: "gatewarden_rule_group_last_duration_seconds", iterationName: "gatewarden_rule_group_evaluations_total"}
	theirs := &groupSampler{durationName: "prometheus_rule_group_last_duration_seconds", iterationName: "prometheus_rule_group_iterations_total",
		missedMetric: "prometheus_rule_group_iterations_missed_total"}
	// The first evaluations see one sample or none: rate() has nothing to
	// compute and most rules fire for the first time, so they do not count.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * o.interval):
	}
	start := time.Now()
	for time.Since(start) < o.duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.interval):
		}
		for _, side := range []struct {
			p *proc
			s *groupSampler
		}{{gw, ours}, {prom, theirs}} {
			ms, err := e.metrics(side.p)
			if err != nil {
				return err
			}
			side.s.sample(ms)
		}
	}
	return reportRulesProm(r, o, pop, time.Since(start), ours, theirs, gw, prom)
}

func reportRulesProm(r *Report, o rulesPromOpts, pop population, window time.Duration, ours, theirs *groupSampler, gw, prom *proc) error {
	groups := (o.rules + rulesPerGroup - 1) / rulesPerGroup
	ctxt := fmt.Sprintf("%d groups of %d plain rules (threshold in the expression), %d series, every %s, %s, both scraping one gatewaysim", groups, rulesPerGroup, pop.series(), o.interval, window.Round(time.Second))
	gwMedian, promMedian := ours.median(), theirs.median()
	r.add(Figure{Key: "rules_prom.group_eval.gatewarden", Size: o.rules, Value: gwMedian, Unit: "s", Context: ctxt + "; median of each group's last evaluation, sampled every interval"})
	r.add(Figure{Key: "rules_prom.group_eval.prometheus", Size: o.rules, Value: promMedian, Unit: "s", Context: "Prometheus " + o.prometheus + ", same run"})
	if gwMedian > 0 && promMedian > 0 {
		r.add(Figure{Key: "rules_prom.speedup", Size: o.rules, Value: promMedian / gwMedian, Unit: "×", Context: "Prometheus's median group evaluation ÷ gatewarden's"})
	}
	// gatewarden evaluates a group on each scrape that brings its metrics:
	// an interval without an evaluation of a group is a missed one.
	expected := float64(groups) * (window.Seconds()/o.interval.Seconds() - 2)
	r.add(Figure{Key: "rules_prom.missed.gatewarden", Size: o.rules, Value: max(0, expected-ours.delta()), Unit: "iterations",
		Context: fmt.Sprintf("%.0f evaluations of %d groups where %.0f intervals passed", ours.delta(), groups, expected)})
	r.add(Figure{Key: "rules_prom.missed.prometheus", Size: o.rules, Value: theirs.delta(), Unit: "iterations", Context: "prometheus_rule_group_iterations_missed_total over the window"})
	for _, p := range []*proc{gw, prom} {
		rss, err := p.rss()
		if err != nil {
			return err
		}
		r.add(Figure{Key: "rules_prom.rss." + p.name, Size: o.rules, Value: rss, Unit: "B"})
	}
	return nil
}

// startPrometheus runs the Prometheus binary at path with config and
// files, as startGatewarden runs gatewarden.
func (e *env) startPrometheus(ctx context.Context, path, config string, files map[string]string) (*proc, error) {
	files["prometheus.yml"] = config
	dir, addr, err := e.workDir("prometheus", files)
	if err != nil {
		return nil, err
	}
	return e.startPath(ctx, path, "prometheus", addr,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
}
