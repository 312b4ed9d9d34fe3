package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/store"
	"github.com/gatewarden/gatewarden/throttle"
)

// sampler reads the plugin gauges the throttle needs from the local TSDB
// with the same PromQL engine the rules use.
type sampler struct {
	engine *promql.Engine
	db     storage.Queryable
}

func (s sampler) query(ctx context.Context, expr string) (promql.Vector, error) {
	return evaluator.InstantQuery(ctx, s.engine, s.db, expr, time.Now())
}

func selector(metric string, in throttle.Instance) string {
	q := func(v string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) }
	return fmt.Sprintf(`%s{tenant_id="%s",plugin_id="%s",instance_id="%s"}`, metric, q(in.TenantID), q(in.PluginID), q(in.InstanceID))
}

func (s sampler) one(ctx context.Context, expr string) (float64, bool, error) {
	v, err := s.query(ctx, "max("+expr+")")
	if err != nil || len(v) == 0 {
		return 0, false, err
	}
	return v[0].F, true, nil
}

func (s sampler) CPU(ctx context.Context, in throttle.Instance) (float64, bool, error) {
	return s.one(ctx, selector("gateway_plugin_cpu_usage_ratio", in))
}

func (s sampler) MaxConcurrency(ctx context.Context, in throttle.Instance) (float64, bool, error) {
	return s.one(ctx, selector("gateway_plugin_max_concurrency", in))
}

func (s sampler) PluginInstances(ctx context.Context) (map[throttle.Plugin]int, error) {
	v, err := s.query(ctx, `count by (tenant_id, plugin_id) (gateway_plugin_cpu_usage_ratio)`)
	if err != nil {
		return nil, err
	}
	out := make(map[throttle.Plugin]int, len(v))
	for _, smp := range v {
		out[throttle.Plugin{TenantID: smp.Metric.Get("tenant_id"), PluginID: smp.Metric.Get("plugin_id")}] = int(smp.F)
	}
	return out, nil
}

// notices hands the throttle's alerts to the receiver, as any other alert.
type notices struct{ inbox receiver.Inbox }

func (n notices) Notify(ctx context.Context, ns []throttle.Notice) error {
	as := make([]receiver.Alert, len(ns))
	for i, x := range ns {
		as[i] = receiver.Alert{Labels: x.Labels, Annotations: x.Annotations, StartsAt: x.StartsAt, EndsAt: x.EndsAt, GeneratorURL: x.GeneratorURL}
	}
	return n.inbox.Take(ctx, as, true)
}

// newThrottle builds the controller when the config has a throttle section;
// nil otherwise. Its state is restored from the store before the first
// evaluation, so a restart neither forgets nor repeats a decision.
func newThrottle(cfg *config.Config, st *store.Store, s sampler, rcv *receiverParts, reg prometheus.Registerer, logger *slog.Logger) (*throttle.Controller, error) {
	if cfg.Throttle == nil {
		return nil, nil
	}
	o, err := throttle.OptionsFromConfig(cfg.Throttle)
	if err != nil {
		return nil, err
	}
	o.Sampler, o.Store, o.Notifier = s, st, notices{rcv.inbox}
	o.Registerer, o.Logger = reg, logger.With("component", "throttle")
	if cfg.Receiver != nil {
		o.Language, o.ExternalURL = cfg.Receiver.Language, cfg.Receiver.ExternalURL
	}
	c, err := throttle.New(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Load(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// applyThrottle takes a reloaded policy; the gateway settings and turning
// the throttle on or off need a restart.
func applyThrottle(c *throttle.Controller, logger *slog.Logger) func(*config.Config) error {
	return func(cfg *config.Config) error {
		switch {
		case c == nil && cfg.Throttle == nil:
			return nil
		case c == nil || cfg.Throttle == nil:
			logger.Warn("adding or removing the throttle section applies after a restart")
			return nil
		}
		p, err := throttle.NewPolicy(cfg.Throttle.ThrottlePolicy)
		if err != nil {
			return err
		}
		c.SetPolicy(p)
		return nil
	}
}
