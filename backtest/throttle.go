package backtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/store"
	"github.com/gatewarden/gatewarden/throttle"
)

// throttleSim is the daemon's throttle controller with the outside world
// replaced: the policy's clock is the replayed time, the gateway records
// calls and always succeeds, CPU and limits are read from the recorded
// data, decisions go to a throwaway store.
type throttleSim struct {
	c  *throttle.Controller
	st *store.Store
	gw *gateway
}

func startThrottle(ctx context.Context, tc *config.ThrottleConfig, engine *promql.Engine, data storage.Queryable,
	clock throttle.Clock, dir string, logger *slog.Logger) (*throttleSim, error) {
	o, err := throttle.OptionsFromConfig(tc)
	if err != nil {
		return nil, fmt.Errorf("backtest: throttle: %w", err)
	}
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, store.DefaultFile), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("backtest: throttle store: %w", err)
	}
	sampler := throttle.PromQLSampler{Engine: engine, Queryable: data, Clock: clock}
	gw := &gateway{clock: clock, limits: sampler, active: map[throttle.Instance]throttle.Applied{}}
	// Verified against the fake gateway's own list: the recorded
	// max_concurrency gauge shows what the live run did, not this one.
	o.Gateway, o.Lister, o.Verify = gw, gw, config.VerifyList
	o.Sampler, o.Store, o.Clock, o.Logger = sampler, st, clock, logger
	// What the policy would do when on, whatever the kill switch says;
	// there is no gateway to reconcile with.
	o.AutomationOff, o.ReconcileInterval = false, 0
	c, err := throttle.New(o)
	if err == nil {
		if err = c.Load(ctx); err != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("backtest: throttle: %w", err)
	}
	return &throttleSim{c: c, st: st, gw: gw}, nil
}

// observe is the daemon's hand-over of an evaluation's alerts.
func (t *throttleSim) observe(ctx context.Context, alerts []*evaluator.Alert) {
	t.c.Observe(ctx, throttle.FromAlerts(alerts))
}

// step finishes what the step's evaluation decided, then ticks at the
// step's time and finishes that: the controller's state is the step's
// before the clock moves on. (The daemon ticks every 5 s; here once a
// step.)
func (t *throttleSim) step(ctx context.Context) error {
	if err := t.c.Drain(ctx); err != nil {
		return err
	}
	t.c.Tick(ctx)
	return t.c.Drain(ctx)
}

func (t *throttleSim) close() error {
	return errors.Join(t.c.Close(), t.st.Close())
}

// report adds the audit trail of the run to rep, oldest first: every
// decision and operation, as /admin/throttles/history would list them.
func (t *throttleSim) report(ctx context.Context, rep *Report) error {
	if err := t.c.Drain(ctx); err != nil {
		return err
	}
	var all []store.ThrottleAudit
	for {
		page, total, err := t.st.ListThrottleAudit(ctx, store.AuditFilter{Limit: 1000, Offset: len(all)})
		if err != nil {
			return fmt.Errorf("backtest: reading the throttle audit: %w", err)
		}
		all = append(all, page...)
		if len(page) == 0 || len(all) >= total {
			break
		}
	}
	slices.SortFunc(all, func(a, b store.ThrottleAudit) int { return cmp.Compare(a.ID, b.ID) })
	for _, a := range all {
		if ev, ok := ThrottleEventOf(a); ok {
			rep.Throttles = append(rep.Throttles, ev)
		}
	}
	rep.GatewayCalls = t.gw.recorded()
	return nil
}

// ThrottleEventOf is an audit record as a report shows it: decisions and
// the outcome of each operation (its acknowledged attempt, or its
// failure). Verification and operator actions say nothing a backtest
// needs: false for those. It reads a daemon's audit as a backtest's.
func ThrottleEventOf(a store.ThrottleAudit) (ThrottleEvent, bool) {
	switch a.Action {
	case "decide", "clear", "expire", "escalate":
	case "apply", "step", "renew", "release":
		if a.Result != "ok" && a.Result != "failed" {
			return ThrottleEvent{}, false
		}
	default:
		return ThrottleEvent{}, false
	}
	var d throttle.AuditDecision
	_ = json.Unmarshal(a.Decision, &d) // written by the controller
	return ThrottleEvent{
		Time:     a.CreatedAt.UTC(),
		Instance: throttle.Instance{TenantID: a.TenantID, PluginID: a.PluginID, InstanceID: a.InstanceID},
		Action:   a.Action, Result: a.Result, MaxConcurrency: d.MaxConcurrency, Previous: d.Previous,
		DryRun: d.DryRun, CPU: d.CPU, Reason: d.Reason, Error: a.Error,
	}, true
}

// gateway is a gateway that applies every call at once, keeps the list of
// throttles in force for verification, and records the calls.
type gateway struct {
	clock  throttle.Clock
	limits throttle.Sampler // the instance's limit before its first throttle

	mu     sync.Mutex
	active map[throttle.Instance]throttle.Applied
	calls  []GatewayCall
}

// GatewayCall is one call the controller made.
type GatewayCall struct {
	Time time.Time `json:"time"`
	throttle.Instance
	MaxConcurrency int     `json:"max_concurrency"`
	TTLSeconds     float64 `json:"ttl_seconds"`
	// Release: the call restored the limit from before the throttle.
	Release bool `json:"release,omitempty"`
}

func (g *gateway) Throttle(ctx context.Context, r throttle.Request) (throttle.Applied, error) {
	now := g.clock.Now()
	before, known, _ := g.limits.MaxConcurrency(ctx, r.Instance)
	g.mu.Lock()
	defer g.mu.Unlock()
	a, active := g.active[r.Instance]
	if !active && known {
		a.PreviousMaxConcurrency = int(before)
	}
	a.Instance, a.MaxConcurrency, a.ExpiresAt, a.IdempotencyKey = r.Instance, r.MaxConcurrency, now.Add(r.TTL), r.IdempotencyKey
	release := active && a.PreviousMaxConcurrency > 0 && r.MaxConcurrency == a.PreviousMaxConcurrency
	if release {
		a.Released = true
		delete(g.active, r.Instance)
	} else {
		g.active[r.Instance] = a
	}
	g.calls = append(g.calls, GatewayCall{Time: now.UTC(), Instance: r.Instance, MaxConcurrency: r.MaxConcurrency,
		TTLSeconds: r.TTL.Seconds(), Release: release})
	return a, nil
}

// Throttles lists the throttles in force: their TTL not yet lapsed.
func (g *gateway) Throttles(context.Context) ([]throttle.Applied, error) {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []throttle.Applied
	for _, a := range g.active {
		if now.Before(a.ExpiresAt) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (g *gateway) recorded() []GatewayCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}
