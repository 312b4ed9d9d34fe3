package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// Automation is the kill switch (seed 002's ops-throttle-automation flag):
// off, anomalies are alerts only and every throttle the automation applied
// is released; back on, it starts from a clean state.
type Automation struct {
	Enabled   bool      `json:"enabled"`
	Reason    string    `json:"reason"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
}

// AutomationAlertName is the notice that stays firing while the switch is
// off, so nobody forgets it is.
const AutomationAlertName = "PluginAutoThrottleDisabled"

// Automation returns the kill switch's state.
func (c *Controller) Automation() Automation { return *c.auto.Load() }

func (c *Controller) automated() bool { return c.auto.Load().Enabled }

// SetAutomation turns the automation on or off for every gatewarden
// sharing the store, and returns how many throttles turning it off
// released (their releases are queued; each is verified and audited).
func (c *Controller) SetAutomation(ctx context.Context, enabled bool, reason, actor string) (Automation, int, error) {
	saved, err := c.o.Store.PutThrottleAutomation(ctx, store.ThrottleAutomation{
		Enabled: enabled, Reason: reason, ChangedBy: actor, ChangedAt: c.o.Clock.Now()})
	if err != nil {
		return Automation{}, 0, err
	}
	a := automationOf(saved)
	result := "enabled"
	if !enabled {
		result = "disabled"
	}
	c.audit(ctx, Instance{}, 0, "automation", result, "", AuditDecision{Actor: actor, Reason: reason})
	c.mu.Lock()
	n := c.switchTo(a)
	c.mu.Unlock()
	return a, n, nil
}

func automationOf(s store.ThrottleAutomation) Automation {
	return Automation{Enabled: s.Enabled, Reason: s.Reason, ChangedBy: s.ChangedBy, ChangedAt: s.ChangedAt}
}

// syncAutomation takes a change another gatewarden sharing the store
// made; Tick calls it.
func (c *Controller) syncAutomation(ctx context.Context) {
	saved, err := c.o.Store.GetThrottleAutomation(ctx)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("reading the throttle automation switch failed", "err", err)
		}
		return
	}
	a := automationOf(saved)
	if cur := c.Automation(); cur.Enabled == a.Enabled && cur.ChangedAt.Equal(a.ChangedAt) {
		return
	}
	c.mu.Lock()
	c.switchTo(a)
	c.mu.Unlock()
}

// switchTo applies a, under mu, and returns the throttles it released.
func (c *Controller) switchTo(a Automation) int {
	was := c.auto.Swap(&a)
	c.m.automated.Set(boolGauge(a.Enabled))
	now := c.o.Clock.Now()
	var ns []Notice
	for inst := range c.eps {
		ns = append(ns, c.settle(inst, StatusAlertOnly, now)...)
		ns = append(ns, c.settle(inst, dryRunStatus, now)...)
		c.dropEpisode(inst)
	}
	clear(c.fails)
	released := 0
	if a.Enabled {
		if !was.Enabled {
			ns = append(ns, c.settle(Instance{}, StatusDisabled, now)...)
		}
	} else {
		released = c.releaseAll(a)
		ns = append(ns, c.raise(c.disabledNotice(a, released))...)
	}
	c.q.push(false, func(ctx context.Context) { c.notify(ctx, ns) })
	return released
}

// releaseAll restores the limit of every throttle the automation applied,
// under mu. One whose limit before is unknown cannot be restored: it
// lapses at its TTL, no longer renewed.
func (c *Controller) releaseAll(a Automation) int {
	rq := releaseReq{reason: "automation_disabled", actor: a.ChangedBy}
	n := 0
	for _, r := range c.recs {
		switch {
		case r.row.State == store.ThrottleReleasing:
		case r.busy || r.row.State != store.ThrottleThrottled || r.row.PreviousMaxConcurrency == 0:
			r.release = &rq // after the call in flight, or never renewed again
			n++
		default:
			c.startOp(r, opRelease, r.row.PreviousMaxConcurrency, rq)
			n++
		}
	}
	return n
}

// StatusDisabled is the status label of the kill switch's notice.
const StatusDisabled = "AUTOMATION_DISABLED"

func (c *Controller) disabledNotice(a Automation, released int) Notice {
	who, why := a.ChangedBy, a.Reason
	if why == "" {
		why = "no reason given"
	}
	msg := text{
		fmt.Sprintf("Plugin auto-throttle automation disabled by %s because %s; %d throttles released. CPU anomalies are alerts only until it is enabled again.", who, why, released),
		fmt.Sprintf("插件自动限流已由 %s 关闭，原因：%s；已解除 %d 个限流。重新开启前 CPU 异常仅告警。", who, why, released),
	}
	n := c.notice(StatusDisabled, sevWarning, Instance{}, a.ChangedAt, time.Time{}, msg, map[string]string{"disabled_by": who, "reason": why})
	n.Labels["alertname"] = AutomationAlertName
	return n
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
