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
	// Cooldown: at most one notification per (alert type, target) and
	// receiver this long.
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

// Muter holds back alerts: silences, inhibition and time intervals. The
// reason is for the suppression metric; "" means not muted.
type Muter interface {
	Mutes(lset model.LabelSet, now time.Time) string
}

// Sink is where notifications go: the store's outbox, its history for
// suppressions, and the cooldown accounting shared by every receiver on
// the store.
type Sink interface {
	Enqueue(ctx context.Context, o store.OutboxItem) (store.OutboxItem, bool, error)
	AddHistory(ctx context.Context, h store.HistoryEntry) (int64, error)
	ClaimCooldowns(ctx context.Context, claims []store.CooldownClaim, now time.Time) ([]store.CooldownResult, error)
}

// Plan is the dispatcher's configuration; a reload swaps it whole.
type Plan struct {
	Router  Router
	Targets func(receiver string) []Target
	Muters  []Muter
	Inhibit []Inhibition
	// Muted reports whether named time intervals mute (or fail to make
	// active) a route now.
	Muted       func(t Timing, now time.Time) bool
	ExternalURL string
	Language    string
}

// retryFlush is how soon a flush whose outbox write failed is tried again.
const retryFlush = 5 * time.Second

// Dispatcher groups alerts by route and group labels, waits, and turns
// each group's changes into notifications in the outbox, as Alertmanager's
// dispatcher and notification pipeline do, with gatewarden's cooldown.
type Dispatcher struct {
	sink Sink
	wake func()
	log  *slog.Logger
	now  func() time.Time

	in   chan []Alert
	mu   sync.Mutex
	plan *Plan

	// Owned by Run.
	inhibit inhibitIndex // of the current flush pass, built on first use
	groups  map[string]*group
	queue   groupQueue
	alerts  map[string]*held // every known alert, for inhibition

	m       *dispatchMetrics
	ngroups atomic.Int64 // for the gauge, read off Run's goroutine
}

// DispatcherOptions configure NewDispatcher.
type DispatcherOptions struct {
	Sink Sink
	// Wake tells the delivery worker new items are waiting.
	Wake       func()
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// NewDispatcher returns a dispatcher without a plan; ApplyPlan gives it one.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	d := &Dispatcher{sink: o.Sink, wake: o.Wake, log: o.Logger, now: o.Now, in: make(chan []Alert, 4096),
		groups: map[string]*group{}, alerts: map[string]*held{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.wake == nil {
		d.wake = func() {}
	}
	d.m = newDispatchMetrics(o.Registerer, d)
	return d
}

// ApplyPlan swaps the configuration; Run re-routes the alerts it holds.
func (d *Dispatcher) ApplyPlan(p *Plan) {
	d.mu.Lock()
	d.plan = p
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

// Run owns the groups: it takes added alerts and flushes groups when due,
// until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next, ok := d.queue.peek(); ok {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case batch := <-d.in:
			d.take(batch)
		case <-timer.C:
		}
		d.flushDue(ctx)
		d.ngroups.Store(int64(len(d.groups)))
	}
}

// take routes a batch into groups; a nil batch re-routes everything after
// a reload.
func (d *Dispatcher) take(batch []Alert) {
	p := d.currentPlan()
	if p == nil {
		return
	}
	if batch == nil {
		old := d.groups
		d.groups, d.queue = map[string]*group{}, nil
		for _, g := range old {
			for _, h := range g.alerts {
				h.routedBy = p
				d.route(p, h, g.sent)
			}
		}
		return
	}
	for _, a := range batch {
		// A re-post of a known alert (every sender re-posts what fires)
		// changes it in place: its groups hold the same *held, and its
		// labels, hence its routes, are the same.
		if h := d.alerts[a.Fingerprint()]; h != nil && h.routedBy == p {
			h.update(a)
			continue
		}
		h := newHeld(a)
		h.routedBy = p
		d.alerts[h.fp] = h
		d.route(p, h, nil)
	}
}

func (d *Dispatcher) route(p *Plan, h *held, sent map[string]sentState) {
	ls := h.labelSet()
	for _, r := range p.Router.Match(ls) {
		key := r.ID() + "\x00" + r.GroupKey(ls)
		g := d.groups[key]
		if g == nil {
			t := r.Timing()
			g = &group{key: r.GroupKey(ls), routeID: r.ID(), receiver: r.Receiver(), labels: r.GroupLabels(ls), timing: t,
				alerts: map[string]*held{}, sent: map[string]sentState{}, next: d.now().Add(t.GroupWait)}
			d.groups[key] = g
			heap.Push(&d.queue, g)
		}
		fp := h.fp
		g.alerts[fp] = h
		if s, ok := sent[fp]; ok {
			g.sent[fp] = s // a reload does not forget what was told
		}
	}
}

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
			continue
		}
		heap.Push(&d.queue, g)
	}
}
