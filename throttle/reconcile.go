package throttle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// Difference is one disagreement between the gateway's throttle list and
// gatewarden's state, and what reconcile did about it.
type Difference struct {
	// Kind: orphan (in force at the gateway from a call of gatewarden's
	// that it does not manage, e.g. an apply that timed out and then took
	// effect), foreign (in force at the gateway, not from gatewarden:
	// reported, never touched), missing (managed by gatewarden, gone at
	// the gateway), limit (both have it, at different limits).
	Kind string `json:"kind"`
	Instance
	// Action: adopted, released, reapplied, closed or reported.
	Action     string `json:"action"`
	Detail     string `json:"detail,omitempty"`
	ThrottleID int64  `json:"throttle_id,omitempty"`
}

// Reconciliation is one reconcile's outcome. Supported is false when the
// gateway has no throttle list to compare with.
type Reconciliation struct {
	Supported   bool         `json:"supported"`
	Differences []Difference `json:"differences"`
}

// ReconcileAlertName is the notice that the gateway cannot be reconciled
// with: said once per process, for manual handling.
const ReconcileAlertName = "PluginAutoThrottleReconcileUnsupported"

// Reconcile compares the gateway's throttle list with what gatewarden
// manages and repairs the difference: seed 002's reconcile of throttle
// events against the audit, run every ReconcileInterval and on demand.
// Throttles with a gateway call in flight, or one that ended after the
// list was read, are left for the next run.
func (c *Controller) Reconcile(ctx context.Context) (Reconciliation, error) {
	c.reconcileMu.Lock()
	defer c.reconcileMu.Unlock()
	lister := c.o.Lister
	if l, ok := c.o.Gateway.(Lister); ok && lister == nil {
		lister = l
	}
	read := time.Now()
	var list []Applied
	err := errUnsupported
	if lister != nil {
		list, err = lister.Throttles(ctx)
	}
	var ge *GatewayError
	if errors.Is(err, errUnsupported) || errors.As(err, &ge) && ge.Unsupported() {
		c.m.reconcile.WithLabelValues("unsupported").Inc()
		c.cannotReconcile(ctx, err)
		return Reconciliation{Differences: []Difference{}}, nil
	}
	if err != nil {
		c.m.reconcile.WithLabelValues("failed").Inc()
		return Reconciliation{}, fmt.Errorf("reading the gateway's throttle list: %w", err)
	}
	atGateway := map[Instance]Applied{}
	for _, ap := range list {
		if !ap.Released {
			atGateway[ap.Instance] = ap
		}
	}
	diffs := c.reconcileOurs(ctx, atGateway, read)
	diffs = append(diffs, c.reconcileTheirs(ctx, atGateway, read)...)
	slices.SortFunc(diffs, func(a, b Difference) int { return cmp.Compare(a.Instance.String(), b.Instance.String()) })
	for _, d := range diffs {
		c.m.diffs.WithLabelValues(d.Kind).Inc()
		c.audit(ctx, d.Instance, d.ThrottleID, "reconcile", d.Kind+"/"+d.Action, "", AuditDecision{Actor: "reconcile", Reason: d.Detail})
	}
	c.m.reconcile.WithLabelValues("ok").Inc()
	return Reconciliation{Supported: true, Differences: diffs}, nil
}

var errUnsupported = errors.New("the gateway has no throttle list")

// cannotReconcile says once that reconcile cannot run: the gateway lacks
// GET of its throttle list, so throttles left behind need an operator.
func (c *Controller) cannotReconcile(ctx context.Context, err error) {
	if c.unsupported {
		return
	}
	c.unsupported = true
	now := c.o.Clock.Now()
	msg := text{
		fmt.Sprintf("Plugin auto-throttle cannot reconcile with the gateway (%v): throttles the gateway keeps after a failed call must be checked by hand.", err),
		fmt.Sprintf("插件自动限流无法与网关对账（%v）：调用失败后网关残留的限流需人工核对。", err),
	}
	n := c.notice(StatusFailed, sevWarning, Instance{}, now, now.Add(governanceFor), msg, map[string]string{"reason": "reconcile_unsupported"})
	n.Labels["alertname"] = ReconcileAlertName
	c.audit(ctx, Instance{}, 0, "reconcile", "unsupported", err.Error(), AuditDecision{Actor: "reconcile"})
	c.notify(ctx, []Notice{n})
}

// reconcileOurs checks every throttle gatewarden manages against the list.
func (c *Controller) reconcileOurs(ctx context.Context, atGateway map[Instance]Applied, read time.Time) []Difference {
	c.mu.Lock()
	var gone []*record
	var diffs []Difference
	for inst, r := range c.recs {
		if !c.settledBefore(r, read) {
			continue
		}
		ap, ok := atGateway[inst]
		switch {
		case !ok:
			gone = append(gone, r)
		case ap.MaxConcurrency != r.row.MaxConcurrency && r.release == nil:
			diffs = append(diffs, Difference{Kind: "limit", Instance: inst, Action: "reapplied", ThrottleID: r.row.ID,
				Detail: fmt.Sprintf("the gateway has max_concurrency %d, gatewarden set %d", ap.MaxConcurrency, r.row.MaxConcurrency)})
			c.startOp(r, opRenew, r.row.MaxConcurrency, releaseReq{})
		}
	}
	c.mu.Unlock()
	for _, r := range gone {
		if d, ok := c.missing(ctx, r, read); ok {
			diffs = append(diffs, d)
		}
	}
	return diffs
}

// settledBefore says whether r's state can be compared with a list read
// at read: no call in flight, none ended since. Under mu.
func (c *Controller) settledBefore(r *record, read time.Time) bool {
	return !r.busy && r.row.State == store.ThrottleThrottled && r.settled.Before(read)
}

// missing handles a throttle gone at the gateway (a restart lost it):
// applied again while the anomaly lasts, closed otherwise.
func (c *Controller) missing(ctx context.Context, r *record, read time.Time) (Difference, bool) {
	inst := rowInstance(r.row)
	cpu, ok, err := c.o.Sampler.CPU(ctx, inst)
	pol := c.Policy()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs[inst] != r || !c.settledBefore(r, read) {
		return Difference{}, false
	}
	d := Difference{Kind: "missing", Instance: inst, ThrottleID: r.row.ID}
	if err == nil && ok && cpu >= pol.cfg.RecoveryThreshold && r.release == nil && c.automated() {
		d.Action, d.Detail = "reapplied", fmt.Sprintf("gone at the gateway while CPU is %.3f", cpu)
		c.startOp(r, opRenew, r.row.MaxConcurrency, releaseReq{})
		return d, true
	}
	d.Action, d.Detail = "closed", "gone at the gateway, the anomaly over"
	c.end(r, "reconcile", "reconcile", c.o.Clock.Now(), d.Detail)
	return d, true
}

// reconcileTheirs looks at what the gateway has that gatewarden does not
// manage.
func (c *Controller) reconcileTheirs(ctx context.Context, atGateway map[Instance]Applied, read time.Time) []Difference {
	var diffs []Difference
	for inst, ap := range atGateway {
		c.mu.Lock()
		managed := c.recs[inst] != nil
		c.mu.Unlock()
		if managed {
			continue
		}
		row, err := c.o.Store.GetThrottleByKey(ctx, ap.IdempotencyKey)
		switch {
		case errors.Is(err, store.ErrNotFound):
			diffs = append(diffs, Difference{Kind: "foreign", Instance: inst, Action: "reported",
				Detail: fmt.Sprintf("max_concurrency %d set by another client (key %q): left alone", ap.MaxConcurrency, ap.IdempotencyKey)})
		case err != nil:
			c.log.Warn("reconcile: looking up a gateway throttle's decision failed", "instance", inst, "err", err)
		case store.ThrottleActive(row.State) || row.State == store.ThrottleReleased && !row.ReleasedAt.Before(read.Add(-time.Minute)):
			// Another gatewarden's, or a release the list has not caught up with.
		default:
			if d, ok := c.orphan(ctx, row, ap); ok {
				diffs = append(diffs, d)
			}
		}
	}
	return diffs
}

// orphan takes over a throttle of gatewarden's making that it lost track
// of: adopted, then managed (and released) as any other, or released at
// once, as the reconcile policy says and as the kill switch allows.
func (c *Controller) orphan(ctx context.Context, row store.Throttle, ap Applied) (Difference, bool) {
	inst := rowInstance(row)
	from := row.State
	now := c.o.Clock.Now()
	row.State, row.MaxConcurrency, row.OpLimit = store.ThrottleThrottled, ap.MaxConcurrency, ap.MaxConcurrency
	if ap.PreviousMaxConcurrency > 0 {
		row.PreviousMaxConcurrency = ap.PreviousMaxConcurrency
	}
	row.AppliedAt, row.ExpiresAt, row.LastError = now, ap.ExpiresAt, ""
	row.ReleasedAt, row.ReleaseReason, row.ReleasedBy = time.Time{}, "", ""
	saved, err := c.o.Store.UpdateThrottle(ctx, row, from)
	if err != nil {
		// Taken by another gatewarden meanwhile (the one-active index).
		c.log.Info("reconcile: not adopting a gateway throttle", "instance", inst, "err", err)
		return Difference{}, false
	}
	d := Difference{Kind: "orphan", Instance: inst, ThrottleID: saved.ID, Action: "adopted",
		Detail: fmt.Sprintf("max_concurrency %d in force at the gateway though the decision was %s", ap.MaxConcurrency, from)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs[inst] != nil {
		return d, true // a new decision raced in: it manages the instance
	}
	delete(c.fails, inst)
	ns := c.settle(inst, StatusFailed, now)
	r, raised := c.takeOver(c.Policy(), saved, now)
	ns = append(ns, raised...)
	c.q.push(false, func(ctx context.Context) { c.notify(ctx, ns) })
	release := c.o.Orphans == config.OrphanRelease || !c.automated()
	switch {
	case release && saved.PreviousMaxConcurrency > 0:
		d.Action = "released"
		c.startOp(r, opRelease, saved.PreviousMaxConcurrency, releaseReq{reason: "reconcile", actor: "reconcile"})
	case release:
		d.Detail += "; the limit before it is unknown: it lapses at its TTL"
		r.release = &releaseReq{reason: "reconcile", actor: "reconcile"}
	}
	return d, true
}
