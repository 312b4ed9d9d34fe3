// Package collector scrapes targets in the Prometheus exposition formats into
// local storage: one loop per target, Prometheus's staleness and limits, and
// a subscription point so rules can run as soon as a scrape lands.
package collector

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
)

// Options wires a Manager to the rest of the process.
type Options struct {
	Appendable storage.Appendable
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// TimestampTolerance is how late a scrape may start and still be
	// stamped with its slot on the interval's grid (capped at 1 % of
	// the interval); 0 keeps the timestamps as they come.
	TimestampTolerance time.Duration
}

// Manager owns the scrape pools, one per job.
type Manager struct {
	app       storage.Appendable
	m         *metrics
	logger    *slog.Logger
	tolerance time.Duration

	mtx     sync.Mutex
	pools   map[string]*pool
	running context.Context
	// subs is read by every scrape without a lock, so a scrape never waits
	// on a reload that is waiting for that scrape to end.
	subs atomic.Pointer[[]func(Event)]
}

// NewManager returns a manager with no jobs; ApplyConfig gives it some.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{app: o.Appendable, m: newMetrics(o.Registerer), logger: o.Logger, tolerance: o.TimestampTolerance, pools: map[string]*pool{}}
}

// Subscribe registers fn to be called after every scrape, from the scrape's
// own goroutine: fn must return quickly and must not block.
func (m *Manager) Subscribe(fn func(Event)) {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	var subs []func(Event)
	if old := m.subs.Load(); old != nil {
		subs = append(subs, *old...)
	}
	subs = append(subs, fn)
	m.subs.Store(&subs)
}

func (m *Manager) publish(e Event) {
	if subs := m.subs.Load(); subs != nil {
		for _, fn := range *subs {
			fn(e)
		}
	}
}

// ApplyConfig brings the jobs in line with cfg, all or nothing: if any job
// cannot be set up (a TLS file that does not load), nothing changes.
// Unchanged jobs keep running untouched; a changed job restarts, its
// surviving targets without a gap in their series.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	next := map[string]*pool{}
	var errs []error
	for _, sc := range cfg.ScrapeConfigs {
		if p, ok := m.pools[sc.JobName]; ok && p.cfg.Equal(sc) {
			next[sc.JobName] = p
			continue
		}
		p, err := newPool(sc, m.app, m.m, m.publish, m.logger, m.tolerance)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next[sc.JobName] = p
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for job, old := range m.pools {
		np, ok := next[job]
		switch {
		case ok && np == old:
			continue
		case m.running == nil:
		case ok:
			// Stop first, so the old loops' last samples and markers are
			// written before the new ones start; targets in both get none.
			np.readFiles()
			old.stop(np.targetKeys(), false)
		default:
			old.stop(nil, false)
		}
		if !ok {
			m.m.forget(job)
		}
	}
	for job, p := range next {
		if m.running != nil && m.pools[job] != p {
			p.start(m.running)
		}
	}
	m.pools = next
	return nil
}

// Run scrapes until ctx ends, then stops every loop without staleness
// markers, so series continue after a restart. In-flight scrapes are cut.
func (m *Manager) Run(ctx context.Context) error {
	m.mtx.Lock()
	m.running = ctx
	for _, p := range m.pools {
		p.start(ctx)
	}
	m.mtx.Unlock()
	<-ctx.Done()
	m.mtx.Lock()
	defer m.mtx.Unlock()
	for _, p := range m.pools {
		p.stop(nil, true)
	}
	return nil
}

// Targets returns every active target, ordered by job and URL.
func (m *Manager) Targets() []TargetStatus {
	loops := m.loops()
	out := make([]TargetStatus, 0, len(loops))
	for _, l := range loops {
		out = append(out, l.snapshot())
	}
	return out
}

// Metadata returns the metadata of every active target, in the order of
// Targets.
func (m *Manager) Metadata() []TargetMetadata {
	loops := m.loops()
	out := make([]TargetMetadata, 0, len(loops))
	for _, l := range loops {
		out = append(out, l.metadata())
	}
	return out
}

// loops returns every running loop ordered by job and URL, taking the
// locks only to list them.
func (m *Manager) loops() []*loop {
	m.mtx.Lock()
	pools := make([]*pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mtx.Unlock()
	var out []*loop
	for _, p := range pools {
		out = append(out, p.loopList()...)
	}
	slices.SortFunc(out, func(a, b *loop) int {
		return cmp.Or(cmp.Compare(a.job, b.job), cmp.Compare(a.t.url, b.t.url))
	})
	return out
}
