package main

import (
	"fmt"
	"strings"
)

// Target is what a figure should reach. The list below is the only copy:
// docs/benchmarks.md embeds its markdown rendering (gwbench targets), and a
// test fails when the two differ, so a target cannot change in one place.
type Target struct {
	Key string // the figure's key: scenario.measure
	// MinSize and MaxSize bound the figure sizes the target applies to (0:
	// unbounded), since, say, memory per series only means something once
	// the series outweigh the process's fixed cost.
	MinSize, MaxSize int
	Op               string // ">=", "<=" or "<"
	Value            float64
	Unit             string
	Source           string // where the target comes from
}

var targets = []Target{
	{Key: "ingest.rss_per_series", MinSize: 100_000, Op: "<=", Value: 2048, Unit: "B", Source: "foundation: ≤ 2 KiB per active series (30 min figure; a short run reads lower or higher)"},
	{Key: "ingest.scrape_duration", Op: "<", Value: 10, Unit: "s", Source: "foundation: one scrape of ~100k series well inside 10 s"},
	{Key: "evaluate.cycle", MinSize: 1000, MaxSize: 1000, Op: "<=", Value: 1, Unit: "s", Source: "evaluator: one cycle of 1,000 rules sharing 10 expressions ≤ 1 s"},
	{Key: "detect.alert.p99", Op: "<=", Value: 1.1, Unit: "s", Source: "evaluator: ≤ 100 ms after the scrape, + one 1 s scrape interval"},
	{Key: "detect.notification.p99", Op: "<=", Value: 1.2, Unit: "s", Source: "receiver: + ≤ 50 ms to the outbox and the delivery, group_wait 0s"},
	{Key: "detect.throttle.p99", Op: "<=", Value: 1.2, Unit: "s", Source: "throttle: ≤ 100 ms decision → PATCH, after the alert"},
	{Key: "receive.v2.alerts_per_s", MinSize: 100, MaxSize: 100, Op: ">=", Value: 40_000, Unit: "alerts/s", Source: "receiver: ≥ 40k alerts/s in batches of 100 (Alertmanager 20k)"},
	{Key: "receive.v2.p99", MinSize: 1, MaxSize: 100, Op: "<", Value: 0.020, Unit: "s", Source: "receiver: p99 ingest latency < 20 ms, 8 clients as fast as they can"},
	{Key: "receive.v2.paced.p99", MinSize: 1, MaxSize: 100, Op: "<", Value: 0.020, Unit: "s", Source: "receiver: p99 ingest latency < 20 ms, at the throughput targets (40k alerts/s in 100s, 5k req/s of one)"},
	{Key: "receive.v2.requests_per_s", MinSize: 1, MaxSize: 1, Op: ">=", Value: 5000, Unit: "req/s", Source: "receiver: ≥ 5k requests/s of one alert (Alertmanager 2.6k)"},
	{Key: "flood.rss", Op: "<", Value: 512 << 20, Unit: "B", Source: "hardening: a flood of distinct alerts leaves the default daemon under 512 MiB"},
	{Key: "flood.healthy.max", Op: "<", Value: 0.1, Unit: "s", Source: "hardening: /-/healthy answers within 100 ms during the flood"},
	{Key: "flood.undelivered", Op: "<=", Value: 0, Unit: "alerts", Source: "hardening: every alert accepted is delivered"},
	{Key: "rules_prom.speedup", MinSize: 1000, MaxSize: 1000, Op: ">=", Value: 40, Unit: "×", Source: "performance: 1,000 plain Prometheus rules ≥ 40× faster than Prometheus per group evaluation, same run"},
	{Key: "rules_prom.missed.gatewarden", Op: "<=", Value: 0, Unit: "iterations", Source: "performance: no missed iterations"},
	{Key: "ingest_prom.rss_ratio", MinSize: 100_000, Op: "<=", Value: 0.5, Unit: "× Prometheus", Source: "performance: RSS per series ≤ ½ Prometheus's on a neutral exposition, same run (30 min figure)"},
	{Key: "ingest_prom.cpu_ratio", MinSize: 100_000, Op: "<=", Value: 0.5, Unit: "× Prometheus", Source: "performance: CPU per scrape ≤ ½ Prometheus's, same run"},
	{Key: "fleet.rss_ratio", MinSize: 100_000, Op: "<=", Value: 1, Unit: "× Prometheus", Source: "fleet: RSS per series with remote_write ≤ Prometheus agent's, same run"},
	{Key: "fleet.cpu_ratio", MinSize: 100_000, Op: "<=", Value: 1, Unit: "× Prometheus", Source: "fleet: CPU per scrape with remote_write ≤ Prometheus agent's, same run"},
	{Key: "soak.rss_growth", Op: "<=", Value: 10, Unit: "%", Source: "soak: RSS flat (second quarter → last quarter of the run)"},
	{Key: "soak.goroutine_growth", Op: "<=", Value: 10, Unit: "%", Source: "soak: goroutines flat (same quarters)"},
}

// targetFor returns the target of a figure, if it has one.
func targetFor(key string, size int) (Target, bool) {
	for _, t := range targets {
		if t.Key == key && (t.MinSize == 0 || size >= t.MinSize) && (t.MaxSize == 0 || size <= t.MaxSize) {
			return t, true
		}
	}
	return Target{}, false
}

// Met reports whether v reaches the target.
func (t Target) Met(v float64) bool {
	switch t.Op {
	case ">=":
		return v >= t.Value
	case "<=":
		return v <= t.Value
	case "<":
		return v < t.Value
	}
	return false
}

// String is the target as the table shows it: "≤ 2.0 KiB".
func (t Target) String() string {
	op := map[string]string{">=": "≥", "<=": "≤", "<": "<"}[t.Op]
	return op + " " + formatValue(t.Value, t.Unit)
}

func (t Target) sizes() string {
	switch {
	case t.MinSize == 0 && t.MaxSize == 0:
		return "all"
	case t.MinSize == t.MaxSize:
		return formatSize(t.MinSize)
	case t.MaxSize == 0:
		return "≥ " + formatSize(t.MinSize)
	}
	return formatSize(t.MinSize) + "–" + formatSize(t.MaxSize)
}

// targetsMarkdown renders the targets as the table docs/benchmarks.md
// holds between its gwbench markers.
func targetsMarkdown() string {
	var b strings.Builder
	b.WriteString("| figure | sizes | target | from |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", t.Key, t.sizes(), t.String(), t.Source)
	}
	return b.String()
}
