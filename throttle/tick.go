package throttle

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// Tick follows every throttle in force: it reads the instance's CPU and
// releases after the stable window, steps down or escalates while CPU
// stays high, renews before the TTL lapses, and notes a lapsed one. It
// also gives waiting anomalies room freed under the cap. Run calls it
// every TickInterval; tests call it after advancing their clock.
func (c *Controller) Tick(ctx context.Context) {
	c.syncAutomation(ctx)
	pol := c.Policy()
	c.mu.Lock()
	refresh := c.o.Clock.Now().Sub(c.pluginsAt) > time.Minute
	var idle []*record
	for _, r := range c.recs {
		if !r.busy && r.row.State == store.ThrottleThrottled {
			idle = append(idle, r)
		}
	}
	c.mu.Unlock()
	if refresh {
		c.refreshPlugins(ctx)
	}
	// The Sampler is read without the lock: Observe must not wait on it.
	type sample struct {
		v  float64
		ok bool
	}
	samples := make([]sample, len(idle))
	for i, r := range idle {
		v, ok, err := c.o.Sampler.CPU(ctx, rowInstance(r.row))
		if err != nil {
			c.log.Warn("reading a throttled instance's CPU failed", "instance", rowInstance(r.row), "err", err)
		}
		samples[i] = sample{v, ok && err == nil}
	}
	now := c.o.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range idle {
		if !r.busy && r.row.State == store.ThrottleThrottled && c.recs[rowInstance(r.row)] == r {
			c.follow(pol, r, samples[i].v, samples[i].ok, now)
		}
	}
	c.forgetStale(now)
	c.promote(pol, now)
	c.resendOpen(now)
}

// follow is one throttle's step of the state machine, under mu.
func (c *Controller) follow(pol *Policy, r *record, cpu float64, ok bool, now time.Time) {
	row := &r.row
	if !now.Before(row.ExpiresAt) {
		c.expire(r)
		return
	}
	if rq := r.release; rq != nil && !now.Before(rq.notBefore) && row.PreviousMaxConcurrency > 0 {
		r.release = nil
		c.startOp(r, opRelease, row.PreviousMaxConcurrency, *rq)
		return
	}
	if ok {
		r.cpu, r.cpuAt = cpu, now
	}
	p := pol.cfg
	if ok && r.release == nil {
		if cpu < p.RecoveryThreshold {
			if row.LowSince.IsZero() {
				row.LowSince = now
				c.persist(r)
				return
			}
			if now.Sub(row.LowSince) >= time.Duration(p.StableWindow) {
				rq := releaseReq{reason: "recovered", actor: "auto"}
				if row.PreviousMaxConcurrency == 0 {
					// Nothing known to restore: stop renewing, let it lapse.
					r.release = &rq
					return
				}
				c.startOp(r, opRelease, row.PreviousMaxConcurrency, rq)
				return
			}
		} else {
			if !row.LowSince.IsZero() {
				row.LowSince = time.Time{}
				c.persist(r)
				return
			}
			if !now.Before(r.nextStep) && c.escalate(pol, r, now) {
				return
			}
		}
	}
	// Renew while the instance has not recovered and still reports: one
	// gone from the metrics is left to lapse.
	if r.release == nil && !now.Before(row.ExpiresAt.Add(-time.Duration(p.RenewBefore))) &&
		!r.cpuAt.IsZero() && now.Sub(r.cpuAt) < time.Duration(p.RenewBefore) {
		c.startOp(r, opRenew, row.MaxConcurrency, releaseReq{})
	}
}

// escalate takes the next step for an instance still at or above the
// recovery threshold EscalateAfter after its last step: a lower limit while
// steps remain, then one manual-handling alert. It reports whether a step
// was started.
func (c *Controller) escalate(pol *Policy, r *record, now time.Time) bool {
	inst := rowInstance(r.row)
	r.nextStep = now.Add(time.Duration(pol.cfg.EscalateAfter))
	a, _ := pol.action(inst)
	if r.row.Step < pol.cfg.MaxSteps {
		if l, lower := stepLimit(a, r.row.MaxConcurrency); lower {
			c.m.trigger.WithLabelValues("step").Inc()
			c.startOp(r, opStep, l, releaseReq{})
			return true
		}
	}
	if r.escalated {
		return false
	}
	r.escalated = true
	detail := fmt.Sprintf("CPU %.3f at max_concurrency %d, step %d", r.cpu, r.row.MaxConcurrency, r.row.Step)
	ns := c.raise(c.notice(StatusFailed, sevCritical, inst, now, time.Time{}, failedText(inst, reasonText("escalated", detail)),
		idAnnotations(r.row.ID, r.row.MaxConcurrency, r.row.PreviousMaxConcurrency, "escalated")))
	id, d := r.row.ID, AuditDecision{MaxConcurrency: r.row.MaxConcurrency, Reason: detail, Actor: "auto", Step: r.row.Step, CPU: r.cpu}
	c.q.push(false, func(ctx context.Context) {
		c.audit(ctx, inst, id, "escalate", "manual_handling", "", d)
		c.notify(ctx, ns)
	})
	return false
}

// persist stores a pending release's start (or its reset), under mu.
func (c *Controller) persist(r *record) {
	row := r.row
	r.busy = true
	c.q.push(true, func(ctx context.Context) {
		defer c.finish(r)
		if _, err := c.o.Store.UpdateThrottle(ctx, row, store.ThrottleThrottled); err != nil {
			c.log.Error("storing a throttle's recovery window failed", "instance", rowInstance(row), "err", err)
		}
	})
}

// expire notes a throttle the gateway already ended by its TTL, under mu.
func (c *Controller) expire(r *record) {
	c.end(r, "expired", "gateway", r.row.ExpiresAt, reasonText("expired", "").en)
}

// end records a throttle over without a call of gatewarden's: lapsed, or
// found gone by reconcile. Under mu.
func (c *Controller) end(r *record, reason, by string, at time.Time, why string) {
	row := r.row
	row.State, row.ReleasedAt, row.ReleaseReason, row.ReleasedBy = store.ThrottleReleased, at, reason, by
	r.row, r.busy = row, true
	inst := rowInstance(row)
	ns := c.settle(inst, StatusAutoThrottled, at)
	c.q.push(true, func(ctx context.Context) {
		defer c.finish(r)
		if _, err := c.o.Store.UpdateThrottle(ctx, row, store.ThrottleThrottled); err != nil {
			c.log.Error("storing an ended throttle failed", "instance", inst, "reason", reason, "err", err)
		}
		if reason == "expired" {
			c.audit(ctx, inst, row.ID, "expire", "released", "", AuditDecision{MaxConcurrency: row.MaxConcurrency, Actor: by, Reason: why})
		}
		c.notify(ctx, ns)
	})
}

// takeOver manages a stored throttle from now on (one loaded at start, or
// an orphan reconcile adopts), under mu, and returns its AUTO_THROTTLED
// notice to send.
func (c *Controller) takeOver(pol *Policy, row store.Throttle, now time.Time) (*record, []Notice) {
	inst := rowInstance(row)
	c.dropEpisode(inst)
	r := &record{row: row, nextStep: now.Add(time.Duration(pol.cfg.EscalateAfter))}
	c.recs[inst], c.byID[row.ID] = r, r
	c.occupy(inst)
	if row.MaxConcurrency <= 0 {
		return r, nil
	}
	_, ttl := pol.action(inst)
	return r, c.raise(c.notice(StatusAutoThrottled, sevWarning, inst, row.AppliedAt, row.ExpiresAt,
		throttledText(inst, row.MaxConcurrency, row.PreviousMaxConcurrency, ttl, false),
		idAnnotations(row.ID, row.MaxConcurrency, row.PreviousMaxConcurrency, row.Reason)))
}

// forgetStale drops anomalies whose alert was not re-sent for StaleAfter:
// its resolution was missed (a restart of the evaluator, a changed rule).
func (c *Controller) forgetStale(now time.Time) {
	for inst, ep := range c.eps {
		if now.Sub(ep.seen) > c.o.StaleAfter {
			c.cleared(inst, now)
		}
	}
}

// promote throttles anomalies that waited under the cap, oldest first,
// while there is room.
func (c *Controller) promote(pol *Policy, now time.Time) {
	var waiting []Instance
	for inst, ep := range c.eps {
		if ep.reason == "blast_radius" {
			waiting = append(waiting, inst)
		}
	}
	slices.SortFunc(waiting, func(a, b Instance) int {
		return cmp.Or(c.eps[a].since.Compare(c.eps[b].since), cmp.Compare(a.String(), b.String()))
	})
	for _, inst := range waiting {
		ep := c.eps[inst]
		if c.room(pol, inst, ep) != "" {
			continue
		}
		ns := c.settle(inst, StatusAlertOnly, now)
		c.dropEpisode(inst)
		c.decide(pol, Event{Rule: pol.cfg.Rule, Instance: inst, Firing: true, Value: ep.cpu}, now, time.Now())
		c.q.push(false, func(ctx context.Context) { c.notify(ctx, ns) })
	}
}

// Release restores the limit of throttle id now, for an operator. The
// anomaly is then left alone until its alert resolves. It returns once the
// release is queued; store.ErrNotFound or store.ErrConflict (not active)
// otherwise.
func (c *Controller) Release(ctx context.Context, id int64, actor string) error {
	c.mu.Lock()
	r := c.byID[id]
	if r == nil {
		c.mu.Unlock()
		t, err := c.o.Store.GetThrottle(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: throttle %d is %s", store.ErrConflict, id, t.State)
	}
	inst, row := rowInstance(r.row), r.row
	switch {
	case row.State == store.ThrottleReleasing:
		c.mu.Unlock()
		return nil
	case row.PreviousMaxConcurrency == 0:
		c.mu.Unlock()
		return fmt.Errorf("%w: throttle %d: the limit before it is unknown; it lapses at %s", store.ErrConflict, id, row.ExpiresAt)
	}
	c.mu.Unlock()
	// Audited before the release can start, so the trail reads in order.
	c.audit(ctx, inst, id, "release_requested", "accepted", "", AuditDecision{Actor: actor, MaxConcurrency: row.PreviousMaxConcurrency})
	c.mu.Lock()
	defer c.mu.Unlock()
	rq := releaseReq{reason: "manual", actor: actor}
	switch {
	case c.byID[id] != r || r.row.State == store.ThrottleReleasing:
		// Ended or releasing meanwhile: nothing left to do.
	case r.busy || r.row.State != store.ThrottleThrottled:
		r.release = &rq // after the call in flight
	default:
		c.startOp(r, opRelease, r.row.PreviousMaxConcurrency, rq)
	}
	return nil
}

// Feedback marks throttle id as a false positive (or takes that back).
// More than FalsePositiveLimit in a day raise the governance alert, once
// a day.
func (c *Controller) Feedback(ctx context.Context, id int64, actor string, falsePositive bool) (store.Throttle, error) {
	now := c.o.Clock.Now()
	t, err := c.o.Store.SetThrottleFeedback(ctx, id, falsePositive, actor, now)
	if err != nil {
		return t, err
	}
	result := "confirmed"
	if falsePositive {
		result = "false_positive"
	}
	inst := rowInstance(t)
	c.audit(ctx, inst, id, "feedback", result, "", AuditDecision{Actor: actor, MaxConcurrency: t.MaxConcurrency})
	if !falsePositive {
		return t, nil
	}
	n, err := c.o.Store.CountFalsePositives(ctx, now.Add(-24*time.Hour))
	limit := c.Policy().cfg.FalsePositiveLimit
	if err != nil || n <= limit {
		return t, nil
	}
	c.mu.Lock()
	due := c.lastGov.IsZero() || now.Sub(c.lastGov) >= 24*time.Hour
	if due {
		c.lastGov = now
	}
	c.mu.Unlock()
	if due {
		msg := text{
			fmt.Sprintf("%s: %d decisions were marked false positive in the last 24h (more than %d): review the throttle policy.", titleEN, n, limit),
			fmt.Sprintf("%s：过去 24 小时内有 %d 次限流被标记为误判（超过 %d 次），请复核限流策略。", titleZH, n, limit),
		}
		g := c.notice(StatusGovernance, sevWarning, inst, now, now.Add(governanceFor), msg, map[string]string{"false_positives": fmt.Sprint(n)})
		g.Labels["alertname"] = GovernanceAlertName
		for _, k := range []string{"tenant_id", "plugin_id", "instance_id"} {
			delete(g.Labels, k) // about the policy, not one instance
		}
		c.audit(ctx, Instance{}, 0, "governance", "alerted", "", AuditDecision{Actor: actor, Reason: g.Annotations["summary_en"]})
		c.notify(ctx, []Notice{g})
	}
	return t, nil
}

// Load takes over the stored state before the first Observe: the policy
// saved at run time, and every active throttle with its TTL and pending
// release. A call that was in flight is repeated with its stored key, so
// the gateway applies it once.
func (c *Controller) Load(ctx context.Context) error {
	sp, err := c.o.Store.GetThrottlePolicy(ctx)
	switch {
	case err == nil:
		var cfg config.ThrottlePolicy
		pol, perr := (*Policy)(nil), json.Unmarshal(sp.Policy, &cfg)
		if perr == nil {
			pol, perr = NewPolicy(cfg)
		}
		if perr != nil {
			// One that no longer validates (an upgrade) must not stop the
			// daemon: the file's applies, loudly.
			c.log.Error("the saved throttle policy is invalid; using the config file's", "saved_by", sp.UpdatedBy, "err", perr)
			break
		}
		c.polMu.Lock()
		c.saved = pol
		c.pol.Store(pol)
		c.polMu.Unlock()
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("throttle: loading the saved policy: %w", err)
	}
	switch a, err := c.o.Store.GetThrottleAutomation(ctx); {
	case err == nil:
		saved := automationOf(a)
		c.auto.Store(&saved)
		c.m.automated.Set(boolGauge(a.Enabled))
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("throttle: loading the automation switch: %w", err)
	}
	rows, err := c.o.Store.ListActiveThrottles(ctx)
	if err != nil {
		return fmt.Errorf("throttle: loading active throttles: %w", err)
	}
	pol := c.Policy()
	now := c.o.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		return errors.New("throttle: Load called twice")
	}
	c.loaded = true
	for _, row := range rows {
		inst := rowInstance(row)
		if c.recs[inst] != nil {
			continue
		}
		r, _ := c.takeOver(pol, row, now)
		switch row.State {
		case store.ThrottleThrottling, store.ThrottleReleasing:
			// Before the interrupted call, the row was throttled at its
			// stored limit and step; a first apply had nothing before it.
			prev := row
			prev.State = store.ThrottleThrottled
			if row.Op == opApply {
				prev = store.Throttle{}
			}
			r.busy = true
			c.q.push(true, func(ctx context.Context) {
				defer c.finish(r)
				c.call(ctx, pol, r, prev, row)
			})
		case store.ThrottleThrottled:
			if !now.Before(row.ExpiresAt) {
				c.expire(r)
			}
		}
	}
	if a := c.Automation(); !a.Enabled {
		// Off while this process was down: what it took over goes too,
		// and the notice that it is off fires again.
		ns := c.raise(c.disabledNotice(a, c.releaseAll(a)))
		c.q.push(false, func(ctx context.Context) { c.notify(ctx, ns) })
	}
	return nil
}
