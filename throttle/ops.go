package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// Operations: each is one gateway call with its own Idempotency-Key.
const (
	opApply   = "apply"
	opRenew   = "renew"
	opStep    = "step"
	opRelease = "release"
)

// AuditDecision is the decision column of the throttle's audit records.
type AuditDecision struct {
	ThrottleID     int64   `json:"throttle_id,omitempty"`
	MaxConcurrency int     `json:"max_concurrency,omitempty"`
	Previous       int     `json:"previous_max_concurrency,omitempty"`
	Reason         string  `json:"decision_reason,omitempty"`
	Attempt        int     `json:"attempt,omitempty"`
	LatencySeconds float64 `json:"latency_seconds,omitempty"`
	Actor          string  `json:"actor"`
	Key            string  `json:"idempotency_key,omitempty"`
	Step           int     `json:"step,omitempty"`
	TTLSeconds     float64 `json:"ttl_seconds,omitempty"`
	CPU            float64 `json:"cpu,omitempty"`
	DryRun         bool    `json:"dry_run,omitempty"`
	Replayed       bool    `json:"replayed,omitempty"`
}

func (c *Controller) audit(ctx context.Context, inst Instance, id int64, action, result, errText string, d AuditDecision) {
	d.ThrottleID = id
	b, _ := json.Marshal(d)
	_, err := c.o.Store.AddThrottleAudit(context.WithoutCancel(ctx), store.ThrottleAudit{
		TenantID: inst.TenantID, PluginID: inst.PluginID, InstanceID: inst.InstanceID,
		Action: action, Decision: b, Result: result, Error: errText, CreatedAt: c.o.Clock.Now(),
	})
	if err != nil {
		c.log.Error("writing a throttle audit record failed", "instance", inst, "action", action, "err", err)
	}
}

func (c *Controller) notify(ctx context.Context, ns []Notice) {
	if len(ns) == 0 || c.o.Notifier == nil {
		return
	}
	if err := c.o.Notifier.Notify(context.WithoutCancel(ctx), ns); err != nil {
		c.log.Error("sending throttle alerts failed", "alerts", len(ns), "err", err)
	}
}

func rowInstance(r store.Throttle) Instance { return Instance{r.TenantID, r.PluginID, r.InstanceID} }

// applyNew sizes a fresh decision, stores it with its key and applies it.
// The row is written before the call: a restart in between repeats the
// call with the same key instead of deciding again.
func (c *Controller) applyNew(ctx context.Context, rec *record, pol *Policy) {
	defer c.finish(rec)
	c.mu.Lock()
	row := rec.row
	c.mu.Unlock()
	inst := rowInstance(row)
	a, ttl := pol.action(inst)
	cur, known, err := c.o.Sampler.MaxConcurrency(ctx, inst)
	if err != nil {
		c.log.Warn("reading max_concurrency failed", "instance", inst, "err", err)
		known = false
	}
	lim, err := limit(a, cur, known)
	if errors.Is(err, errAtLimit) {
		c.mu.Lock()
		rec.row.State = store.ThrottleReleased // not stored: nothing was decided
		c.mu.Unlock()
		c.abandon(pol, rec, "already_limited")
		return
	}
	if err == nil {
		row.OpLimit = lim
		if known {
			row.PreviousMaxConcurrency = int(cur)
		}
		var created store.Throttle
		if created, err = c.o.Store.CreateThrottle(ctx, row); err == nil {
			row = created
		}
	}
	if err != nil {
		c.failed(ctx, pol, rec, row, store.Throttle{}, &opError{reason: failReason(err), err: err})
		return
	}
	c.mu.Lock()
	rec.row = row
	c.byID[row.ID] = rec
	c.mu.Unlock()
	c.audit(ctx, inst, row.ID, "decide", "throttle", "", AuditDecision{MaxConcurrency: lim,
		Previous: row.PreviousMaxConcurrency, Reason: row.Reason, Actor: row.Actor, Key: row.OpKey, Step: 1,
		TTLSeconds: ttl.Seconds(), CPU: rec.cpu})
	c.call(ctx, pol, rec, store.Throttle{}, row)
}

func failReason(err error) string {
	switch {
	case errors.Is(err, errNoLimit):
		return "no_limit"
	case errors.Is(err, store.ErrConflict):
		return "owned_elsewhere"
	}
	return "store"
}

// abandon turns a decision into an alert-only episode.
func (c *Controller) abandon(pol *Policy, rec *record, why string) {
	inst := rowInstance(rec.row)
	now := c.o.Clock.Now()
	c.mu.Lock()
	ev := Event{Rule: pol.cfg.Rule, Instance: inst, Firing: true, Value: rec.cpu}
	delete(c.recs, inst)
	c.vacate(inst)
	c.alertOnly(pol, ev, now, why, "")
	c.mu.Unlock()
}

// dryRun audits and announces what a real run would have done.
func (c *Controller) dryRun(ctx context.Context, pol *Policy, ev Event, now time.Time, reason string) {
	a, ttl := pol.action(ev.Instance)
	cur, known, err := c.o.Sampler.MaxConcurrency(ctx, ev.Instance)
	lim, lerr := limit(a, cur, known && err == nil)
	d := AuditDecision{MaxConcurrency: lim, Reason: reason, Actor: "auto", DryRun: true, TTLSeconds: ttl.Seconds(), CPU: ev.Value, Step: 1}
	if known {
		d.Previous = int(cur)
	}
	errText := ""
	if lerr != nil {
		errText = lerr.Error()
	}
	c.audit(ctx, ev.Instance, 0, "decide", "dry_run", errText, d)
	n := c.notice(StatusAutoThrottled, sevWarning, ev.Instance, now, time.Time{},
		throttledText(ev.Instance, lim, d.Previous, ttl, true), idAnnotations(0, lim, d.Previous, reason))
	if lerr != nil {
		// The real run would not throttle either: say why, as it would.
		n = c.notice(StatusAlertOnly, sevWarning, ev.Instance, now, time.Time{},
			alertOnlyText(ev.Instance, text{lerr.Error(), lerr.Error()}), idAnnotations(0, 0, d.Previous, "dry_run"))
	}
	n.Labels["dry_run"] = "true"
	c.mu.Lock()
	ns := c.raise(n)
	c.mu.Unlock()
	c.notify(ctx, ns)
}

// startOp moves a throttled record to its next operation and queues it,
// under mu.
func (c *Controller) startOp(rec *record, op string, lim int, r releaseReq) {
	prev := rec.row
	next := prev
	next.Op, next.OpKey, next.OpLimit, next.LastError = op, newKey(), lim, ""
	next.State = store.ThrottleThrottling
	if op == opRelease {
		next.State, next.ReleaseReason, next.ReleasedBy = store.ThrottleReleasing, r.reason, r.actor
	}
	rec.row, rec.busy = next, true
	pol := c.Policy()
	c.q.push(true, func(ctx context.Context) {
		defer c.finish(rec)
		saved, err := c.o.Store.UpdateThrottle(ctx, next, prev.State)
		if err != nil {
			c.failed(ctx, pol, rec, next, prev, &opError{reason: "store", err: err})
			return
		}
		c.call(ctx, pol, rec, prev, saved)
	})
}

// call makes row's operation, verifies it and records the outcome. prev
// is the row before the operation (zero for a first apply): what a failed
// renew, step or release falls back to.
func (c *Controller) call(ctx context.Context, pol *Policy, rec *record, prev, row store.Throttle) {
	inst := rowInstance(row)
	_, ttl := pol.action(inst)
	req := Request{Instance: inst, MaxConcurrency: row.OpLimit, TTL: ttl, IdempotencyKey: row.OpKey}
	ap, err := c.attempts(ctx, pol, row, req)
	if err == nil {
		err = c.verify(ctx, inst, row.OpLimit, row.Op == opRelease)
	}
	if err != nil && ctx.Err() != nil {
		// Shutting down mid-call: the row stays as stored, in flight, and
		// the next Load repeats the call with its key.
		return
	}
	if err != nil {
		c.failed(ctx, pol, rec, row, prev, err)
		return
	}
	c.succeeded(ctx, rec, row, ap, ttl)
}

// succeeded stores and announces an acknowledged, verified operation.
func (c *Controller) succeeded(ctx context.Context, rec *record, row store.Throttle, ap Applied, ttl time.Duration) {
	now := c.o.Clock.Now()
	inst := rowInstance(row)
	from := row.State
	var ns []Notice
	if row.Op == opRelease {
		row.State, row.ReleasedAt = store.ThrottleReleased, now
	} else {
		row.State, row.MaxConcurrency = store.ThrottleThrottled, row.OpLimit
		row.ExpiresAt = now.Add(ttl)
		if !ap.ExpiresAt.IsZero() && ap.ExpiresAt.Before(row.ExpiresAt) {
			row.ExpiresAt = ap.ExpiresAt // the gateway's clock decides when it lapses
		}
		if row.PreviousMaxConcurrency == 0 && row.Op == opApply {
			row.PreviousMaxConcurrency = ap.PreviousMaxConcurrency
		}
		if row.AppliedAt.IsZero() {
			row.AppliedAt = now
		}
		if row.Op == opStep {
			row.Step++
			row.LowSince = time.Time{}
		}
	}
	saved, err := c.o.Store.UpdateThrottle(ctx, row, from)
	if err != nil {
		// The gateway has it; the TTL bounds it if the store never learns.
		c.log.Error("storing a throttle's outcome failed", "instance", inst, "op", row.Op, "err", err)
		saved = row
	}
	c.m.success.WithLabelValues(row.Op).Inc()
	c.mu.Lock()
	rec.row = saved
	if row.Op == opApply && !rec.detected.IsZero() {
		c.m.execution.Observe(time.Since(rec.detected).Seconds())
		rec.detected = time.Time{}
	}
	if row.Op == opApply || row.Op == opStep {
		rec.nextStep = now.Add(time.Duration(c.Policy().cfg.EscalateAfter))
	}
	ns = append(ns, c.settle(inst, StatusFailed, now)...)
	if row.Op == opRelease {
		ns = append(ns, c.settle(inst, StatusAutoThrottled, now)...)
		why := reasonText(row.ReleaseReason, row.ReleasedBy)
		ns = append(ns, c.notice(StatusRecovered, sevInfo, inst, now, now.Add(recoveredFor), releasedText(inst, why),
			idAnnotations(row.ID, row.OpLimit, 0, row.ReleaseReason)))
		if row.ReleaseReason == "recovered" && !row.LowSince.IsZero() {
			c.m.mttr.Observe(row.LowSince.Sub(row.AppliedAt).Seconds())
		}
		switch row.ReleaseReason {
		case "manual":
			// The operator overruled the throttle: no new one until the
			// anomaly resolves.
			c.eps[inst] = &episode{reason: "manual", since: now, seen: now, policy: c.Policy()}
		case "recovered":
			// The rule's alert keeps firing through its observation window
			// after CPU fell; its re-sends are not a new anomaly unless
			// CPU is high again (reconsider).
			c.eps[inst] = &episode{reason: "recovered", since: now, seen: now, cpu: rec.cpu, policy: c.Policy()}
		}
	} else {
		ns = append(ns, c.raise(c.notice(StatusAutoThrottled, sevWarning, inst, saved.AppliedAt, saved.ExpiresAt,
			throttledText(inst, saved.MaxConcurrency, saved.PreviousMaxConcurrency, ttl, false),
			idAnnotations(saved.ID, saved.MaxConcurrency, saved.PreviousMaxConcurrency, saved.Reason)))...)
	}
	c.mu.Unlock()
	c.audit(ctx, inst, row.ID, "verify", "ok", "", AuditDecision{MaxConcurrency: row.OpLimit, Actor: "auto", Key: row.OpKey, Step: saved.Step})
	c.notify(ctx, ns)
}

// failed records an operation that did not go through. A first apply
// ends the decision; a renew or step keeps the throttle in force as it
// was (the TTL still bounds it); a release is retried by the next Tick.
func (c *Controller) failed(ctx context.Context, pol *Policy, rec *record, row, prev store.Throttle, err error) {
	now := c.o.Clock.Now()
	inst := rowInstance(row)
	oe := asOpError(err)
	c.m.failure.WithLabelValues(row.Op, oe.reason).Inc()
	from, tried := row.State, row
	if prev.ID == 0 {
		row.State = store.ThrottleFailed
	} else {
		row = prev
	}
	row.LastError = oe.Error()
	if row.ID != 0 && oe.reason != "owned_elsewhere" {
		if _, serr := c.o.Store.UpdateThrottle(ctx, row, from); serr != nil {
			c.log.Error("storing a throttle failure failed", "instance", inst, "err", serr)
		}
	}
	c.mu.Lock()
	rec.row = row
	streak := c.fails[inst]
	if prev.ID == 0 {
		reason := "failed"
		if oe.unsupported {
			reason = "unsupported"
		}
		c.eps[inst] = &episode{reason: reason, since: now, seen: now, cpu: rec.cpu, policy: pol}
	} else if from == store.ThrottleReleasing {
		// Not at once: a gateway that refuses would be hammered. Tick
		// retries; the TTL ends the throttle if the gateway never agrees.
		rec.release = &releaseReq{tried.ReleaseReason, tried.ReleasedBy, now.Add(c.o.RetryFailedAfter)}
	}
	var ns []Notice
	if oe.reason != "owned_elsewhere" {
		sev := sevWarning
		if oe.unsupported || streak >= pol.cfg.FailureAlertAfter {
			sev = sevCritical
		}
		why := text{oe.Error(), oe.Error()}
		if oe.unsupported {
			why = reasonText("unsupported", oe.Error())
		}
		ns = c.raise(c.notice(StatusFailed, sev, inst, now, time.Time{}, failedText(inst, why),
			idAnnotations(row.ID, row.OpLimit, row.PreviousMaxConcurrency, oe.reason)))
	}
	c.mu.Unlock()
	action := row.Op
	if row.ID == 0 {
		action = "decide" // it never got as far as a stored decision
	}
	c.audit(ctx, inst, row.ID, action, "failed", oe.Error(), AuditDecision{MaxConcurrency: row.OpLimit, Actor: "auto", Key: row.OpKey})
	c.notify(ctx, ns)
}

// finish ends a record's job: a finished throttle leaves the active set,
// and a release asked for meanwhile starts now.
func (c *Controller) finish(rec *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec.busy, rec.settled = false, time.Now()
	inst := rowInstance(rec.row)
	switch st := rec.row.State; {
	case st == store.ThrottleReleased || st == store.ThrottleFailed:
		if c.recs[inst] == rec {
			delete(c.recs, inst)
			c.vacate(inst)
		}
		delete(c.byID, rec.row.ID)
	case st == store.ThrottleThrottled && rec.release != nil && rec.row.PreviousMaxConcurrency > 0 &&
		!c.o.Clock.Now().Before(rec.release.notBefore):
		r := *rec.release
		rec.release = nil
		c.startOp(rec, opRelease, rec.row.PreviousMaxConcurrency, r)
	}
}

// opError is a failed operation with the reason the metric and the audit
// name it by.
type opError struct {
	reason      string
	unsupported bool
	err         error
}

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func asOpError(err error) *opError {
	var oe *opError
	if errors.As(err, &oe) {
		return oe
	}
	reason, _, unsupported := classify(err)
	return &opError{reason: reason, unsupported: unsupported, err: err}
}

func marshalPolicy(p *Policy) (json.RawMessage, error) {
	b, err := json.Marshal(p.Config())
	if err != nil {
		return nil, fmt.Errorf("throttle policy: %w", err)
	}
	return b, nil
}
