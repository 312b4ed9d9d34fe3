package throttle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// Controller turns the throttle rule's alerts into gateway throttles and
// back. Observe decides, on the evaluator's goroutine and without I/O;
// a bounded pool of workers makes the calls, verifies, audits and alerts;
// Tick renews, steps down, expires and releases.
type Controller struct {
	o     Options
	log   *slog.Logger
	m     *metrics
	q     *queue
	lists *listShare
	ctx   context.Context // the workers'; cancelled when Close gives up waiting
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once

	polMu       sync.Mutex
	base, saved *Policy // the config file's, the admin API's
	pol         atomic.Pointer[Policy]
	auto        atomic.Pointer[Automation]
	reconcileMu sync.Mutex // one reconcile at a time
	unsupported bool       // the gateway has no list: said once, under reconcileMu

	mu        sync.Mutex
	recs      map[Instance]*record  // decisions being or having been applied
	byID      map[int64]*record     // the stored ones among recs
	eps       map[Instance]*episode // anomalies not (or no longer) throttled
	fails     map[Instance]int      // consecutive failed attempts
	open      map[openKey]Notice    // firing notices, to resolve
	openSent  time.Time             // when the open-ended ones were last re-sent
	occupied  int                   // recs plus dry runs: the blast radius
	perPlugin map[Plugin]int
	plugins   map[Plugin]int // instances per plugin, from the Sampler
	pluginsAt time.Time
	lastGov   time.Time
	loaded    bool
}

// record is an instance's active throttle. Its row is changed by the one
// job that holds it busy, or under mu while no job does.
type record struct {
	row      store.Throttle
	busy     bool
	detected time.Time // monotonic: the Observe that decided it
	cpu      float64
	cpuAt    time.Time // when the Sampler last had a sample, policy time
	nextStep time.Time
	// escalated: the manual-handling alert for CPU still high at the
	// lowest step went out.
	escalated bool
	release   *releaseReq // wanted as soon as the job in flight ends
	settled   time.Time   // monotonic: when its last job ended
}

type releaseReq struct {
	reason, actor string
	notBefore     time.Time // a failed release waits before its retry
}

// episode remembers a firing anomaly that is not throttled, so re-sends
// neither repeat its audit and alert nor retry too soon.
type episode struct {
	reason   string // exempt, blast_radius, dry_run, already_limited, failed, unsupported, manual
	since    time.Time
	seen     time.Time
	cpu      float64
	policy   *Policy // the decision's: a new policy may decide otherwise
	occupies bool    // a dry run counts against the caps, as its real run would
}

type openKey struct {
	status string
	inst   Instance
}

// New starts the workers; Close stops them. Call Load before the first
// Observe so the stored throttles are taken over.
func New(o Options) (*Controller, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	c := &Controller{o: o, log: o.Logger, q: newQueue(), base: o.Policy,
		recs: map[Instance]*record{}, byID: map[int64]*record{}, eps: map[Instance]*episode{},
		fails: map[Instance]int{}, open: map[openKey]Notice{}, perPlugin: map[Plugin]int{}, plugins: map[Plugin]int{}}
	c.pol.Store(o.Policy)
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.m = newMetrics(o.Registerer, c.activeCount, func() float64 { return float64(c.q.len()) })
	c.auto.Store(&Automation{Enabled: !o.AutomationOff})
	c.m.automated.Set(boolGauge(!o.AutomationOff))
	if o.Lister != nil {
		c.lists = &listShare{src: o.Lister}
	}
	for range o.Workers {
		c.wg.Add(1)
		go c.work()
	}
	return c, nil
}

func (c *Controller) work() {
	defer c.wg.Done()
	for job := c.q.pop(); job != nil; job = c.q.pop() {
		job(c.ctx)
		c.q.done()
	}
}

// Run ticks until ctx ends, then closes the controller: one run.Group actor.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.o.TickInterval)
	defer t.Stop()
	var reconcile <-chan time.Time
	if c.o.ReconcileInterval > 0 {
		r := time.NewTicker(c.o.ReconcileInterval)
		defer r.Stop()
		reconcile = r.C
	}
	for {
		select {
		case <-ctx.Done():
			return c.Close()
		case <-t.C:
			c.Tick(ctx)
		case <-reconcile:
			if _, err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("reconciling throttles with the gateway failed", "err", err)
			}
		}
	}
}

// Close lets queued jobs finish for up to DrainTimeout, then cancels the
// rest. A decision dropped that way was not yet sent nor stored, so the
// next alert re-send decides it again.
func (c *Controller) Close() error {
	c.once.Do(func() {
		c.q.close()
		t := time.AfterFunc(c.o.DrainTimeout, c.stop)
		c.wg.Wait()
		t.Stop()
		c.stop()
		c.q.kill()
	})
	return nil
}

// Drain waits until no job is queued or running: tests and benchmarks
// observe the outcome of a decision with it.
func (c *Controller) Drain(ctx context.Context) error { return c.q.wait(ctx) }

// Observe takes the alerts of one evaluation and decides for each firing
// anomaly at once: the evaluation that sees the third anomalous sample is
// the one that decides. It does no I/O but an occasional refresh of the
// plugin sizes, and queues the gateway calls.
func (c *Controller) Observe(ctx context.Context, events []Event) {
	if len(events) == 0 {
		return
	}
	detected := time.Now()
	pol := c.Policy()
	c.ensurePlugins(ctx, events)
	now := c.o.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		inst := ev.Instance
		if ev.Rule != pol.cfg.Rule || inst.TenantID == "" || inst.PluginID == "" || inst.InstanceID == "" {
			continue
		}
		if !ev.Firing {
			c.cleared(inst, now)
			continue
		}
		if c.recs[inst] != nil {
			continue // throttled: Tick follows it from here
		}
		if ep := c.eps[inst]; ep != nil {
			ep.seen, ep.cpu = now, ev.Value
			if !c.reconsider(ep, pol, inst, now) {
				continue
			}
			c.dropEpisode(inst)
		}
		c.decide(pol, ev, now, detected)
	}
}

// reconsider says whether a re-sent anomaly gets a new decision: after a
// transient failure once RetryFailedAfter passed, when the cap has room
// again, or when the policy that made an exempt or dry-run decision was
// replaced. Unsupported plugins and manual releases wait for the alert to
// resolve: an operator is on it.
func (c *Controller) reconsider(ep *episode, pol *Policy, inst Instance, now time.Time) bool {
	switch ep.reason {
	case "failed":
		return now.Sub(ep.since) >= c.o.RetryFailedAfter
	case "blast_radius":
		return c.room(pol, inst, ep) == ""
	case "exempt", "dry_run", "already_limited":
		return ep.policy != pol
	case "recovered":
		return ep.cpu >= pol.cfg.RecoveryThreshold
	case "automation_disabled":
		return c.automated()
	}
	return false
}

// decide is the policy applied to one anomaly, under mu.
func (c *Controller) decide(pol *Policy, ev Event, now, detected time.Time) {
	inst := ev.Instance
	reason := fmt.Sprintf("%s fired: CPU %.3f", ev.Rule, ev.Value)
	if !c.automated() {
		c.alertOnly(pol, ev, now, "automation_disabled", c.Automation().ChangedBy)
		return
	}
	if pol.exempt(inst) {
		c.alertOnly(pol, ev, now, "exempt", "")
		return
	}
	if full := c.room(pol, inst, nil); full != "" {
		c.alertOnly(pol, ev, now, "blast_radius", full)
		return
	}
	if pol.cfg.DryRun {
		c.eps[inst] = &episode{reason: "dry_run", since: now, seen: now, cpu: ev.Value, policy: pol, occupies: true}
		c.occupy(inst)
		c.m.trigger.WithLabelValues("dry_run").Inc()
		c.q.push(false, func(ctx context.Context) { c.dryRun(ctx, pol, ev, now, reason) })
		return
	}
	rec := &record{busy: true, detected: detected, cpu: ev.Value, row: store.Throttle{
		TenantID: inst.TenantID, PluginID: inst.PluginID, InstanceID: inst.InstanceID,
		State: store.ThrottleThrottling, Step: 1, Reason: reason, Actor: "auto",
		Op: opApply, OpKey: newKey(), DecidedAt: now,
	}}
	c.recs[inst] = rec
	c.occupy(inst)
	c.m.trigger.WithLabelValues("throttle").Inc()
	c.q.push(true, func(ctx context.Context) { c.applyNew(ctx, rec, pol) })
}

// room says why one more throttle on inst would exceed the blast radius,
// "" if it would not. A waiting episode of inst does not count itself.
func (c *Controller) room(pol *Policy, inst Instance, self *episode) string {
	n, np := c.occupied, c.perPlugin[inst.plugin()]
	if self != nil && self.occupies {
		n, np = n-1, np-1
	}
	if limit := pol.instanceCap(); n >= limit {
		return fmt.Sprintf("%d instances throttled, at most %d", n, limit)
	}
	total := c.plugins[inst.plugin()]
	if limit := pol.pluginCap(total); np >= limit {
		return fmt.Sprintf("%d of the plugin's %d instances throttled, at most %d", np, total, limit)
	}
	return ""
}

func (c *Controller) occupy(inst Instance) {
	c.occupied++
	c.perPlugin[inst.plugin()]++
}

func (c *Controller) vacate(inst Instance) {
	c.occupied--
	if c.perPlugin[inst.plugin()]--; c.perPlugin[inst.plugin()] <= 0 {
		delete(c.perPlugin, inst.plugin())
	}
}

func (c *Controller) dropEpisode(inst Instance) {
	if ep := c.eps[inst]; ep != nil && ep.occupies {
		c.vacate(inst)
	}
	delete(c.eps, inst)
}

// alertOnly records a decision not to throttle, under mu.
func (c *Controller) alertOnly(pol *Policy, ev Event, now time.Time, why, detail string) {
	inst := ev.Instance
	c.eps[inst] = &episode{reason: why, since: now, seen: now, cpu: ev.Value, policy: pol}
	c.m.trigger.WithLabelValues(why).Inc()
	t := reasonText(why, detail)
	ns := c.raise(c.notice(StatusAlertOnly, sevWarning, inst, now, time.Time{}, alertOnlyText(inst, t), idAnnotations(0, 0, 0, why)))
	d := AuditDecision{Reason: t.en, Actor: "auto", CPU: ev.Value}
	c.q.push(false, func(ctx context.Context) {
		c.audit(ctx, inst, 0, "decide", why, "", d)
		c.notify(ctx, ns)
	})
}

// cleared ends what a resolved anomaly leaves behind, under mu. A throttle
// in force is Tick's to release: the rule resolving is not the stable
// window having passed.
func (c *Controller) cleared(inst Instance, now time.Time) {
	ep := c.eps[inst]
	if c.recs[inst] == nil {
		delete(c.fails, inst) // a new anomaly starts a new count
	}
	var ns []Notice
	for _, st := range []string{StatusAlertOnly, StatusFailed} {
		ns = append(ns, c.settle(inst, st, now)...)
	}
	if ep != nil {
		c.dropEpisode(inst)
		ns = append(ns, c.settle(inst, dryRunStatus, now)...)
	}
	if ep == nil && len(ns) == 0 {
		return
	}
	c.q.push(false, func(ctx context.Context) {
		if ep != nil {
			c.audit(ctx, inst, 0, "clear", ep.reason, "", AuditDecision{Reason: "the anomaly resolved", Actor: "auto"})
		}
		c.notify(ctx, ns)
	})
}

// dryRunStatus keys a dry run's AUTO_THROTTLED notice apart from a real one.
const dryRunStatus = StatusAutoThrottled + "/dry_run"

// raise records a firing notice and returns what to send: it, and the
// same alert at its old severity resolved if that changed (the severity
// is a label, so the two are different alerts to the receiver).
func (c *Controller) raise(n Notice) []Notice {
	status := n.Labels["status"]
	if n.Labels["dry_run"] == "true" {
		status = dryRunStatus
	}
	k := openKey{status, instanceOf(n.Labels)}
	out := []Notice{valid(n, c.o.Clock.Now())}
	if old, ok := c.open[k]; ok && old.Labels["severity"] != n.Labels["severity"] {
		out = append(out, resolvedNotice(old, n.StartsAt))
	}
	c.open[k] = n
	return out
}

// Open-ended notices (FAILED, ALERT_ONLY: no TTL ends them) are sent
// valid for openValidity and re-sent every openResend while open, as
// Prometheus re-sends what fires: one that a restart forgot resolves at
// the receiver by itself instead of firing forever.
const (
	openValidity = 5 * time.Minute
	openResend   = time.Minute
)

// valid is n as sent: an open-ended notice valid for openValidity.
func valid(n Notice, now time.Time) Notice {
	if n.EndsAt.IsZero() {
		n.EndsAt = now.Add(openValidity)
	}
	return n
}

// resendOpen re-sends the open-ended notices; the caller holds mu.
func (c *Controller) resendOpen(now time.Time) {
	if now.Sub(c.openSent) < openResend {
		return
	}
	c.openSent = now
	var ns []Notice
	for _, n := range c.open {
		if n.EndsAt.IsZero() {
			ns = append(ns, valid(n, now))
		}
	}
	if len(ns) > 0 {
		c.q.push(false, func(ctx context.Context) { c.notify(ctx, ns) })
	}
}

// settle resolves the open notice of status for inst, if any.
func (c *Controller) settle(inst Instance, status string, at time.Time) []Notice {
	k := openKey{status, inst}
	n, ok := c.open[k]
	if !ok {
		return nil
	}
	delete(c.open, k)
	return []Notice{resolvedNotice(n, at)}
}

func instanceOf(l map[string]string) Instance {
	return Instance{l["tenant_id"], l["plugin_id"], l["instance_id"]}
}

// ensurePlugins refreshes the plugin sizes when an anomaly's plugin is
// unknown, at most every 10 s; Tick refreshes them every minute anyway.
func (c *Controller) ensurePlugins(ctx context.Context, events []Event) {
	c.mu.Lock()
	stale := c.o.Clock.Now().Sub(c.pluginsAt) > 10*time.Second
	missing := false
	for _, ev := range events {
		if _, ok := c.plugins[ev.plugin()]; !ok && ev.Firing {
			missing = true
			break
		}
	}
	c.mu.Unlock()
	if missing && stale {
		c.refreshPlugins(ctx)
	}
}

func (c *Controller) refreshPlugins(ctx context.Context) {
	m, err := c.o.Sampler.PluginInstances(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pluginsAt = c.o.Clock.Now() // the policy's time: a backtest refreshes as a live run would
	if err != nil {
		c.log.Warn("counting plugin instances failed; the blast-radius share uses the last count", "err", err)
		return
	}
	c.plugins = m
}

// Active lists the instances under a throttle, dry runs and anomalies
// waiting for room under the cap, by instance.
func (c *Controller) Active() []Throttle {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Throttle, 0, len(c.recs))
	for _, r := range c.recs {
		out = append(out, r.view())
	}
	for inst, ep := range c.eps {
		if ep.reason == "dry_run" || ep.reason == "blast_radius" {
			st := StateDetecting
			if ep.reason == "dry_run" {
				st = StateThrottled
			}
			out = append(out, Throttle{Instance: inst, State: st, Reason: ep.reason, Actor: "auto",
				DryRun: ep.reason == "dry_run", DecidedAt: ep.since, CPU: ep.cpu})
		}
	}
	slices.SortFunc(out, func(a, b Throttle) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (r *record) view() Throttle {
	w := r.row
	return Throttle{ID: w.ID, Instance: Instance{w.TenantID, w.PluginID, w.InstanceID}, State: State(w.State),
		MaxConcurrency: w.MaxConcurrency, PreviousMaxConcurrency: w.PreviousMaxConcurrency, Step: w.Step,
		Reason: w.Reason, Actor: w.Actor, DecidedAt: w.DecidedAt, AppliedAt: w.AppliedAt, ExpiresAt: w.ExpiresAt,
		LowSince: w.LowSince, CPU: r.cpu, Escalated: r.escalated, LastError: w.LastError}
}

func (c *Controller) activeCount() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(len(c.recs))
}

// History is the audit trail, newest first, for the admin API.
func (c *Controller) History(ctx context.Context, f store.AuditFilter) ([]store.ThrottleAudit, int, error) {
	return c.o.Store.ListThrottleAudit(ctx, f)
}

// newKey is a decision's (or operation's) Idempotency-Key: random, so keys
// from two databases or a reset one never collide within the gateway's
// memory of them.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "gw-" + hex.EncodeToString(b[:])
}
