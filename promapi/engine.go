package promapi

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Defaults of Prometheus's --query.* flags and global evaluation interval.
const (
	DefaultQueryTimeout  = 2 * time.Minute
	DefaultMaxSamples    = 50000000
	DefaultLookbackDelta = 5 * time.Minute
	// defaultSubqueryStep is the step of subqueries written without one
	// (rate(x[1h:])), which Prometheus takes from evaluation_interval.
	defaultSubqueryStep = time.Minute
)

// NewEngine returns a PromQL engine configured as Prometheus configures
// its own. timeout and maxSamples fall back to Prometheus's defaults when
// not positive. Engine metrics (prometheus_engine_*) are registered with
// reg unless it is nil; registering twice with one registry panics.
func NewEngine(reg prometheus.Registerer, logger *slog.Logger, timeout time.Duration, maxSamples int) *promql.Engine {
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	if maxSamples <= 0 {
		maxSamples = DefaultMaxSamples
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return promql.NewEngine(promql.EngineOpts{
		Logger:        logger,
		Reg:           reg,
		MaxSamples:    maxSamples,
		Timeout:       timeout,
		LookbackDelta: DefaultLookbackDelta,
		// The engine dereferences this function for any subquery without
		// a step; left nil, such a query panics.
		NoStepSubqueryIntervalFn: func(int64) int64 { return defaultSubqueryStep.Milliseconds() },
		// Both are part of standard PromQL since Prometheus 2.33; the
		// engine keeps them optional only for other embedders.
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		// Only computed for queries asking with stats=all; Prometheus
		// keeps this behind a feature flag that Grafana users turn on.
		EnablePerStepStats: true,
		Parser:             newParser(),
	})
}

// newParser is shared by the engine and the API's match[] parsing so that
// both accept the same language.
func newParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}
