package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// Policy is a validated config.ThrottlePolicy. It is immutable: the
// Controller swaps whole policies atomically, so one decision never sees
// half of an edit.
type Policy struct {
	cfg config.ThrottlePolicy
}

// NewPolicy fills the defaults of what p leaves out and validates it.
func NewPolicy(p config.ThrottlePolicy) (*Policy, error) {
	// Deep-copy the slices: the caller's config may be edited after.
	p.Exempt = append([]config.ThrottleMatch(nil), p.Exempt...)
	p.Overrides = append([]config.ThrottleOverride(nil), p.Overrides...)
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("throttle policy: %w", err)
	}
	return &Policy{cfg: p}, nil
}

// Config returns the policy as configured, defaults filled in: what the
// admin API shows and the store keeps.
func (p *Policy) Config() config.ThrottlePolicy {
	c := p.cfg
	c.Exempt = append([]config.ThrottleMatch(nil), c.Exempt...)
	c.Overrides = append([]config.ThrottleOverride(nil), c.Overrides...)
	return c
}

func (p *Policy) exempt(i Instance) bool {
	for _, m := range p.cfg.Exempt {
		if m.Matches(i.TenantID, i.PluginID, i.InstanceID) {
			return true
		}
	}
	return false
}

// action is the action and TTL for an instance: the first matching
// override's fields over the policy's. Setting either limit in an override
// replaces the policy's kind of limit, so a tenant can get an absolute
// limit under a ratio policy.
func (p *Policy) action(i Instance) (config.ThrottleAction, time.Duration) {
	a, ttl := p.cfg.Action, time.Duration(p.cfg.TTL)
	for _, o := range p.cfg.Overrides {
		if !o.Matches(i.TenantID, i.PluginID, i.InstanceID) {
			continue
		}
		if o.Action.MaxConcurrency != 0 || o.Action.MaxConcurrencyRatio != 0 {
			a.MaxConcurrency, a.MaxConcurrencyRatio = o.Action.MaxConcurrency, o.Action.MaxConcurrencyRatio
		}
		if o.Action.MinConcurrency != 0 {
			a.MinConcurrency = o.Action.MinConcurrency
		}
		if o.Action.StepRatio != 0 {
			a.StepRatio = o.Action.StepRatio
		}
		if o.TTL != 0 {
			ttl = time.Duration(o.TTL)
		}
		break
	}
	return a, ttl
}

// errNoLimit: a ratio needs the instance's current limit, and there is
// no sample of it.
var errNoLimit = fmt.Errorf("no gateway_plugin_max_concurrency sample to take the ratio of")

// errAtLimit: the target is not below what the instance already has, so a
// "throttle" would raise its limit.
var errAtLimit = fmt.Errorf("the instance's limit is already at or below the throttle's")

// limit is the first step's max_concurrency for an instance whose current
// limit is cur (known or not).
func limit(a config.ThrottleAction, cur float64, known bool) (int, error) {
	var l int
	switch {
	case a.MaxConcurrencyRatio > 0 && !known:
		return 0, errNoLimit
	case a.MaxConcurrencyRatio > 0:
		l = int(math.Floor(cur * a.MaxConcurrencyRatio))
	default:
		l = a.MaxConcurrency
	}
	l = max(l, a.MinConcurrency, 1)
	if known && float64(l) >= cur {
		return 0, errAtLimit
	}
	return l, nil
}

// stepLimit is the next step's limit, or false when it cannot go lower.
func stepLimit(a config.ThrottleAction, cur int) (int, bool) {
	l := max(int(math.Floor(float64(cur)*a.StepRatio)), a.MinConcurrency, 1)
	return l, l < cur
}

// pluginCap is how many of a plugin's total instances may be throttled at
// once: at least one, so arithmetic never exempts a single-instance
// plugin, and an unknown total allows one.
func (p *Policy) pluginCap(total int) int {
	r := p.cfg.BlastRadius.MaxPluginRatio
	if r <= 0 {
		return math.MaxInt
	}
	return max(1, int(math.Floor(float64(total)*r+1e-9)))
}

func (p *Policy) instanceCap() int {
	if n := p.cfg.BlastRadius.MaxInstances; n > 0 {
		return n
	}
	return math.MaxInt
}

// Policy is the policy in force: the one saved at run time, else the
// config file's.
func (c *Controller) Policy() *Policy { return c.pol.Load() }

// SetPolicy replaces the config file's policy (a reload). A policy saved
// through the admin API keeps precedence until ResetPolicy.
func (c *Controller) SetPolicy(p *Policy) {
	c.polMu.Lock()
	defer c.polMu.Unlock()
	c.base = p
	if c.saved == nil {
		c.pol.Store(p)
	}
}

// SavePolicy validates p, stores it and puts it in force, for the admin
// API. It outlives restarts and reloads until ResetPolicy.
func (c *Controller) SavePolicy(ctx context.Context, p config.ThrottlePolicy, actor string) (*Policy, error) {
	pol, err := NewPolicy(p)
	if err != nil {
		return nil, err
	}
	body, err := marshalPolicy(pol)
	if err != nil {
		return nil, err
	}
	c.polMu.Lock()
	defer c.polMu.Unlock()
	if _, err := c.o.Store.PutThrottlePolicy(ctx, store.ThrottlePolicy{Policy: body, UpdatedBy: actor, UpdatedAt: c.o.Clock.Now()}); err != nil {
		return nil, err
	}
	c.saved = pol
	c.pol.Store(pol)
	c.audit(ctx, Instance{}, 0, "policy", "saved", "", AuditDecision{Actor: actor})
	return pol, nil
}

// ResetPolicy forgets the saved policy: the config file's applies again.
func (c *Controller) ResetPolicy(ctx context.Context, actor string) error {
	c.polMu.Lock()
	defer c.polMu.Unlock()
	if err := c.o.Store.DeleteThrottlePolicy(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c.saved = nil
	c.pol.Store(c.base)
	c.audit(ctx, Instance{}, 0, "policy", "reset", "", AuditDecision{Actor: actor})
	return nil
}
