package receiver

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/store"
)

// Timing is a matched route's grouping and quiet times.
type Timing struct {
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// Cooldown: a firing alert notified to a channel is not notified
	// there again for this long.
	Cooldown            time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
}

// Route is what the dispatcher needs of a route an alert matched.
type Route interface {
	// ID tells apart routes whose keys are equal (siblings with the same
	// matchers): each route has groups of its own, as in Alertmanager.
	ID() string
	Receiver() string
	GroupKey(model.LabelSet) string
	GroupLabels(model.LabelSet) model.LabelSet
	Timing() Timing
}

// Router matches an alert to its routes, Alertmanager's way.
type Router interface {
	Match(model.LabelSet) []Route
}

// Target is one delivery channel of a receiver.
type Target struct {
	ChannelID int64
	Name      string
}

// Muter holds back alerts: silences. It returns the reason, naming what
// mutes the alert ("silenced by <id>"), or "".
type Muter interface {
	Mutes(lset model.LabelSet, now time.Time) string
}

// Ledger is the store's notification ledger: a flush claims the state
// changes it decides and enqueues what it notifies in one transaction, and
// a restart rebuilds the groups from what the store holds.
type Ledger interface {
	InLedger(ctx context.Context, now time.Time, fn func(*store.LedgerTx) error) error
	// OpenAlerts reads of the held alerts (held true) only the
	// fingerprint, start and episodes.
	OpenAlerts(ctx context.Context, since time.Time, held func(fp string) bool) ([]store.OpenAlert, error)
}

// Plan is the dispatcher's configuration; a reload swaps it whole.
type Plan struct {
	Router  Router
	Targets func(receiver string) []Target
	Muters  []Muter
	Inhibit []Inhibition
	// Muted names the time interval that mutes a route now (or the active
	// one it is outside of), "" if none.
	Muted func(t Timing, now time.Time) string
	// MutedBy names the same intervals, for the read API's mutedBy.
	MutedBy     func(t Timing, now time.Time) []string
	ExternalURL string
	Language    string
}

const (
	// retryFlush is how soon a flush whose transaction failed is tried
	// again.
	retryFlush = 5 * time.Second
	// DefaultResync is how often the dispatcher picks up the alerts other
	// receivers sharing the store recorded: a peer's takeover.
	DefaultResync = 30 * time.Second
)

// Dispatcher groups alerts by route and group labels, waits, and turns
// each group's state changes into claims and notifications in the
// ledger, as Alertmanager's dispatcher and notification log do, with
// gatewarden's cooldown.
type Dispatcher struct {
	o    DispatcherOptions
	log  *slog.Logger
	now  func() time.Time
	wake func()

	in chan []Alert
	// views are the read API's requests for a Snapshot.
	views chan chan *Snapshot
	mu    sync.Mutex
	plan  *Plan

	// Owned by Run.
	inhibit  inhibitIndex // of the current flush pass, built on first use
	groups   map[string]*group
	queue    groupQueue
	alerts   map[string]*held // every known alert, for inhibition
	done     map[string]finishedEpisode
	synced   time.Time // the last rebuild's start
	rebuilt  bool
	resyncAt time.Time

	m       *dispatchMetrics
	ngroups atomic.Int64 // for the gauge, read off Run's goroutine
	// keys are the groups' keys, for Reserve off Run's goroutine.
	keys groupKeys
}

// DispatcherOptions configure NewDispatcher.
type DispatcherOptions struct {
	Ledger Ledger
	// Episodes is the inbox's tracker, told of the episodes a rebuild
	// finds open.
	Episodes *Episodes
	// Peer names this process in the claims it makes.
	Peer string
	// Wake tells the delivery worker new items are waiting.
	Wake       func()
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Resync is how often alerts other receivers recorded are picked up;
	// DefaultResync if 0.
	Resync time.Duration
}

// NewDispatcher returns a dispatcher without a plan; ApplyPlan gives it one.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	d := &Dispatcher{o: o, wake: o.Wake, log: o.Logger, now: o.Now, in: make(chan []Alert, 4096), views: make(chan chan *Snapshot),
		groups: map[string]*group{}, alerts: map[string]*held{}, done: map[string]finishedEpisode{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.wake == nil {
		d.wake = func() {}
	}
	if d.o.Resync <= 0 {
		d.o.Resync = DefaultResync
	}
	d.m = newDispatchMetrics(o.Registerer, d)
	return d
}

// ApplyPlan swaps the configuration; Run re-routes the alerts it holds.
func (d *Dispatcher) ApplyPlan(p *Plan) {
	d.mu.Lock()
	d.plan = p
	// The old plan's keys mean nothing under the new one; the re-route
	// adds the groups' keys back, and reservations from now on are the
	// new plan's.
	d.keys.clear()
	d.mu.Unlock()
	d.in <- nil // a nil batch: re-route
}

func (d *Dispatcher) currentPlan() *Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.plan
}

// Add hands alerts to the dispatcher. It blocks only when Run is far
// behind, which is the backpressure ingest wants.
func (d *Dispatcher) Add(alerts []Alert) {
	if len(alerts) > 0 {
		d.in <- alerts
	}
}

// Run owns the groups: it rebuilds them from the store, takes added
// alerts and flushes groups when due, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := d.resyncAt
		if d.currentPlan() == nil {
			next = d.now().Add(time.Hour)
		}
		if due, ok := d.queue.peek(); ok && due.Before(next) {
			next = due
		}
		timer.Reset(max(next.Sub(d.now()), 0))
		select {
		case <-ctx.Done():
			return nil
		case batch := <-d.in:
			d.take(batch)
		case reply := <-d.views:
			reply <- d.snapshot()
		case <-timer.C:
		}
		if !d.now().Before(d.resyncAt) && d.currentPlan() != nil {
			d.resync(ctx)
		}
		d.flushDue(ctx)
		d.ngroups.Store(int64(len(d.groups)))
	}
}

// resync rebuilds what the store holds and the dispatcher does not: all
// of it at start, then the alerts recorded since the last pass (another
// receiver's, when it stopped). A store that cannot answer is asked again
// soon; alerts taken meanwhile are grouped as usual.
func (d *Dispatcher) resync(ctx context.Context) {
	start := d.now()
	since := d.synced.Add(-d.o.Resync) // overlap: rows written while the last pass ran
	if !d.rebuilt {
		since = time.Time{}
	}
	open, err := d.o.Ledger.OpenAlerts(ctx, since, func(fp string) bool { return d.alerts[fp] != nil })
	if err != nil {
		if ctx.Err() == nil {
			d.m.resyncFailures.Inc()
			d.log.Warn("reading open alerts from the store failed; retrying", "err", err)
		}
		d.resyncAt = start.Add(retryFlush)
		return
	}
	p := d.currentPlan()
	adopted := 0
	for _, oa := range open {
		if d.adopt(p, oa) {
			adopted++
		}
	}
	if o := d.o.Episodes; o != nil {
		o.Sweep(start)
	}
	d.forgetFinished(start)
	if adopted > 0 {
		d.log.Info("rebuilt alerts from the store", "alerts", adopted, "full", !d.rebuilt)
	}
	d.m.rebuilt.Add(float64(adopted))
	d.m.resyncDuration.Observe(d.now().Sub(start).Seconds())
	d.synced, d.rebuilt, d.resyncAt = start, true, start.Add(d.o.Resync)
}

// adopt takes an alert the store holds open into the groups, or adds the
// open episodes the store knows of to the alert held already.
func (d *Dispatcher) adopt(p *Plan, oa store.OpenAlert) bool {
	h := d.alerts[oa.Fingerprint]
	if h != nil {
		for _, e := range oa.Episodes {
			h.addEpisode(e)
		}
		return false
	}
	end := oa.ExpiresAt
	if !oa.ResolvedAt.IsZero() {
		end = oa.ResolvedAt
	}
	a := Alert{Labels: oa.Labels, Annotations: oa.Annotations, StartsAt: oa.StartsAt, EndsAt: end, GeneratorURL: oa.GeneratorURL,
		Detail: DetailOf(oa.Metadata)}
	if a.Fingerprint() != oa.Fingerprint {
		d.log.Warn("skipping a stored alert whose labels do not match its fingerprint", "fingerprint", oa.Fingerprint)
		return false
	}
	h = newHeld(a)
	h.updated = d.now()
	for _, e := range oa.Episodes {
		h.addEpisode(e)
	}
	if o := d.o.Episodes; o != nil && a.firing(d.now()) {
		o.Open(a)
	}
	d.alerts[h.fp] = h
	h.routedBy = p
	d.route(p, h)
	return true
}

// take routes a batch into groups; a nil batch re-routes everything after
// a reload. Without a plan (no receiver section) nothing is held: nothing
// would be notified; the first plan rebuilds everything from the store.
func (d *Dispatcher) take(batch []Alert) {
	p := d.currentPlan()
	if p == nil {
		d.alerts, d.groups, d.queue, d.rebuilt = map[string]*held{}, map[string]*group{}, nil, false
		d.keys.clear()
		return
	}
	if batch == nil {
		if !d.rebuilt {
			d.resyncAt = time.Time{} // the first plan: rebuild now
		}
		d.groups, d.queue = map[string]*group{}, nil
		for _, h := range d.alerts {
			h.in, h.routedBy = nil, p
			d.route(p, h)
		}
		return
	}
	now := d.now()
	for _, a := range batch {
		if o := d.o.Episodes; o != nil && !a.firing(now) {
			o.Close(a.Fingerprint(), a.StartsAt)
		}
		// A re-post of a known alert (every sender re-posts what fires)
		// changes it in place: its groups hold the same *held, and its
		// labels, hence its routes, are the same.
		if h := d.alerts[a.Fingerprint()]; h != nil {
			h.update(a)
			h.updated = now
			continue
		}
		if d.stale(a, now) {
			continue
		}
		h := newHeld(a)
		h.routedBy, h.updated = p, now
		d.alerts[h.fp] = h
		d.route(p, h)
	}
}

// route puts h into the groups of its routes. The groups decide its state
// changes from the first it has not dropped: those decided before (by
// this process before a reload or restart, or by another receiver) are
// in the ledger already, and claiming them again changes nothing.
func (d *Dispatcher) route(p *Plan, h *held) {
	ls := h.labelSet()
	for _, r := range p.Router.Match(ls) {
		key := r.ID() + "\x00" + r.GroupKey(ls)
		g := d.groups[key]
		if g == nil {
			t := r.Timing()
			g = &group{key: r.GroupKey(ls), routeID: r.ID(), receiver: r.Receiver(), labels: r.GroupLabels(ls), timing: t,
				alerts: map[string]*held{}, done: map[string]int{}, notified: map[string]bool{}, next: d.now().Add(t.GroupWait)}
			d.groups[key] = g
			d.keys.add(key)
			heap.Push(&d.queue, g)
		}
		if _, ok := g.alerts[h.fp]; ok {
			continue
		}
		g.alerts[h.fp] = h
		g.done[h.fp] = 2 * h.base
		h.in = append(h.in, g)
	}
}

// Reserve takes the groups an alert with labels ls would join, unless
// that makes more than max groups: ingest asks before it admits the alert.
func (d *Dispatcher) Reserve(ls model.LabelSet, max int) bool {
	p := d.currentPlan()
	if p == nil {
		return true
	}
	routes := p.Router.Match(ls)
	keys := make([]string, len(routes))
	for i, r := range routes {
		keys[i] = r.ID() + "\x00" + r.GroupKey(ls)
	}
	return d.keys.reserve(keys, max)
}

// Groups is how many groups the dispatcher held after its last pass.
func (d *Dispatcher) Groups() int { return int(d.ngroups.Load()) }

func labelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// flushDue flushes every group whose time has come.
func (d *Dispatcher) flushDue(ctx context.Context) {
	now := d.now()
	p := d.currentPlan()
	d.inhibit = nil
	for {
		g, ok := d.queue.popDue(now)
		if !ok {
			return
		}
		gkey := g.routeID + "\x00" + g.key
		g.next = now.Add(g.timing.GroupInterval)
		if p != nil && !d.flush(ctx, p, g, now) {
			g.next = now.Add(min(g.timing.GroupInterval, retryFlush))
		}
		if len(g.alerts) == 0 {
			delete(d.groups, gkey)
			d.keys.remove(gkey)
			continue
		}
		heap.Push(&d.queue, g)
	}
}
