package throttle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/evaluator"
)

// PromQLSampler reads the plugin gauges with PromQL over a store, at the
// time its Clock says: the wall clock for a daemon, the replayed time for
// a backtest, which must see the samples a live run would have seen then.
type PromQLSampler struct {
	Engine    *promql.Engine
	Queryable storage.Queryable
	Clock     Clock // nil: time.Now
}

func (s PromQLSampler) query(ctx context.Context, expr string) (promql.Vector, error) {
	now := time.Now()
	if s.Clock != nil {
		now = s.Clock.Now()
	}
	return evaluator.InstantQuery(ctx, s.Engine, s.Queryable, expr, now)
}

// The gauges a PromQLSampler reads: what a copy of recorded data must
// hold for the throttle.
const (
	CPUMetric            = "gateway_plugin_cpu_usage_ratio"
	MaxConcurrencyMetric = "gateway_plugin_max_concurrency"
)

func instanceSelector(metric string, in Instance) string {
	q := func(v string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) }
	return fmt.Sprintf(`%s{tenant_id="%s",plugin_id="%s",instance_id="%s"}`, metric, q(in.TenantID), q(in.PluginID), q(in.InstanceID))
}

func (s PromQLSampler) one(ctx context.Context, expr string) (float64, bool, error) {
	v, err := s.query(ctx, "max("+expr+")")
	if err != nil || len(v) == 0 {
		return 0, false, err
	}
	return v[0].F, true, nil
}

// CPU implements Sampler.
func (s PromQLSampler) CPU(ctx context.Context, in Instance) (float64, bool, error) {
	return s.one(ctx, instanceSelector(CPUMetric, in))
}

// MaxConcurrency implements Sampler.
func (s PromQLSampler) MaxConcurrency(ctx context.Context, in Instance) (float64, bool, error) {
	return s.one(ctx, instanceSelector(MaxConcurrencyMetric, in))
}

// PluginInstances implements Sampler.
func (s PromQLSampler) PluginInstances(ctx context.Context) (map[Plugin]int, error) {
	v, err := s.query(ctx, "count by (tenant_id, plugin_id) ("+CPUMetric+")")
	if err != nil {
		return nil, err
	}
	out := make(map[Plugin]int, len(v))
	for _, smp := range v {
		out[Plugin{TenantID: smp.Metric.Get("tenant_id"), PluginID: smp.Metric.Get("plugin_id")}] = int(smp.F)
	}
	return out, nil
}
