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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
)

// Options wires a Manager to the rest of the process.
type Options struct {
	Appendable storage.Appendable
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Manager owns the scrape pools, one per job.
type Manager struct {
	app    storage.Appendable
	m      *metrics
	logger *slog.Logger

	mtx     sync.Mutex
	pools   map[string]*pool
	subs    []func(Event)
	running context.Context
}

// NewManager returns a manager with no jobs; ApplyConfig gives it some.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{app: o.Appendable, m: newMetrics(o.Registerer), logger: o.Logger, pools: map[string]*pool{}}
}

// Subscribe registers fn to be called after every scrape, from the scrape's
// own goroutine: fn must return quickly and must not block.
func (m *Manager) Subscribe(fn func(Event)) {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	m.subs = append(m.subs, fn)
}

func (m *Manager) publish(e Event) {
	m.mtx.Lock()
	subs := m.subs
	m.mtx.Unlock()
	for _, fn := range subs {
		fn(e)
	}
}

// ApplyConfig brings the jobs in line with cfg. Unchanged jobs keep running
// untouched; a changed job restarts, its surviving targets without a gap in
// their series.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	next := map[string]*config.ScrapeConfig{}
	for _, sc := range cfg.ScrapeConfigs {
		next[sc.JobName] = sc
	}
	m.mtx.Lock()
	defer m.mtx.Unlock()
	var errs []error
	for job, p := range m.pools {
		if sc, ok := next[job]; ok && p.cfg.Equal(sc) {
			delete(next, job)
			continue
		}
		keep := map[string]bool{}
		if sc, ok := next[job]; ok {
			np, err := newPool(sc, m.app, m.m, m.publish, m.logger)
			if err != nil {
				errs = append(errs, err)
				delete(next, job)
				continue // the old pool keeps running
			}
			m.replace(p, np)
			delete(next, job)
			continue
		}
		if m.running != nil {
			p.stop(keep, false)
		}
		delete(m.pools, job)
		m.m.forget(job)
	}
	for job, sc := range next {
		p, err := newPool(sc, m.app, m.m, m.publish, m.logger)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.pools[job] = p
		if m.running != nil {
			p.start(m.running)
		}
	}
	return errors.Join(errs...)
}

// replace starts the new pool before the old one stops, so targets in both
// keep their series without staleness markers in between.
func (m *Manager) replace(old, np *pool) {
	m.pools[np.job] = np
	if m.running == nil {
		return
	}
	np.start(m.running)
	old.stop(np.keys(), false)
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
	m.mtx.Lock()
	pools := make([]*pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mtx.Unlock()
	var out []TargetStatus
	for _, p := range pools {
		out = append(out, p.statuses()...)
	}
	slices.SortFunc(out, func(a, b TargetStatus) int {
		return cmp.Or(cmp.Compare(a.ScrapePool, b.ScrapePool), cmp.Compare(a.ScrapeURL, b.ScrapeURL))
	})
	return out
}
