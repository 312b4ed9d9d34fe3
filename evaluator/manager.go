package evaluator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/collector"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/rules"
)

// Options wires the evaluator into the process.
type Options struct {
	Queryable  storage.Queryable
	Appendable storage.Appendable
	Engine     *promql.Engine
	// Notify receives the alerts to send after each evaluation. It runs on
	// the group's goroutine and must not keep the alerts: they change.
	Notify      func(ctx context.Context, alerts []*Alert)
	Registerer  prometheus.Registerer
	Logger      *slog.Logger
	ExternalURL string
	// ResendDelay is how often a firing alert is re-sent (default 1m).
	ResendDelay time.Duration
	// SnapshotFile keeps the rules' state across restarts; empty keeps none.
	SnapshotFile string
	Thresholds   Thresholds
	// Steps keeps the stepped thresholds' accounting across a kill -9;
	// nil keeps it in the rule state and the snapshot only.
	Steps StepLedger
	Now   func() time.Time
	// ExpandEachEvaluation expands labels and annotations at every
	// evaluation, as Prometheus does, so $value is always the latest one.
	// Otherwise they are expanded when an alert is new, changes level or
	// is sent: templates cost more than the rest of an evaluation, and
	// what receivers get is the same. promtool-format tests need it.
	ExpandEachEvaluation bool
}

// Manager runs the rule groups of the config's rule files.
type Manager struct {
	o Options
	m *metrics

	mtx     sync.Mutex
	groups  map[string]*Group
	running context.Context
	// lifetime is running for the groups' shared queries, which read it
	// without the lock.
	lifetime atomic.Pointer[context.Context]
	// externalLabels is read by every evaluation without m.mtx, so that a
	// reload holding m.mtx never waits on an evaluation waiting on it.
	externalLabels atomic.Pointer[map[string]string]
	stops          map[*Group]func()
	restored       map[string]map[uint64]*target // loaded from the snapshot, claimed by groups
	cache          queryCache
	selects        selectCache
	url            *url.URL // ExternalURL parsed, for the pathPrefix template function
}

// NewManager returns a manager without groups; ApplyConfig gives it some.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ResendDelay == 0 {
		o.ResendDelay = time.Minute
	}
	if o.Thresholds == nil {
		o.Thresholds = defaults{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func(context.Context, []*Alert) {}
	}
	u, err := url.Parse(o.ExternalURL)
	if err != nil {
		u = &url.URL{}
	}
	return &Manager{o: o, m: newMetrics(o.Registerer), groups: map[string]*Group{}, stops: map[*Group]func(){}, url: u}
}

// LoadRuleFiles parses every file the patterns match, reporting all errors.
func LoadRuleFiles(patterns []string) (map[string]*rules.Groups, error) {
	out := map[string]*rules.Groups{}
	var errs []error
	for _, pat := range patterns {
		files, err := filepath.Glob(pat)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			gs, err := rules.ParseFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out[f] = gs
		}
	}
	return out, errors.Join(errs...)
}

// ApplyConfig loads the rule files, or the built-in rule pack when the
// config has no rule_files key (an empty list means no rules at all), all
// or nothing. Rules that survive a reload keep their
// state, as in Prometheus.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	files, err := RuleFiles(cfg)
	if err != nil {
		return err
	}
	next := map[string]*Group{}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		for i := range files[f].Groups {
			g := newGroup(f, &files[f].Groups[i], time.Duration(cfg.Global.EvaluationInterval))
			if _, dup := next[g.Key()]; dup {
				return fmt.Errorf("%s: group %q is defined twice", f, g.name)
			}
			next[g.Key()] = g
		}
	}
	var exprs []string
	for _, g := range next {
		for _, p := range g.plans {
			exprs = append(exprs, p.expr)
		}
	}
	m.selects.share(exprs)
	m.mtx.Lock()
	old := m.groups
	stops := m.takeStops()
	m.mtx.Unlock()
	for _, stop := range stops {
		stop() // outside the lock: a stopping group may be finishing an evaluation
	}
	ext := cfg.Global.ExternalLabels
	m.externalLabels.Store(&ext)
	m.mtx.Lock()
	defer m.mtx.Unlock()
	for key, g := range next {
		if o, ok := old[key]; ok {
			g.inherit(o)
		}
		m.claimRestored(g)
		g.publish() // what it inherited or restored shows before it evaluates
		if m.running != nil {
			m.start(g)
		}
	}
	m.groups = next
	return nil
}

// takeStops empties the stop functions of the running groups; the caller
// holds m.mtx and calls them after releasing it.
func (m *Manager) takeStops() []func() {
	var out []func()
	for g, stop := range m.stops {
		out = append(out, stop)
		delete(m.stops, g)
	}
	return out
}

// RuleFiles loads the rule files the daemon runs under cfg: its
// rule_files, or the built-in pack when it has none.
func RuleFiles(cfg *config.Config) (map[string]*rules.Groups, error) {
	if cfg.RuleFiles == nil {
		gs, err := rules.Builtin()
		if err != nil {
			return nil, err
		}
		return map[string]*rules.Groups{rules.BuiltinFile: gs}, nil
	}
	return LoadRuleFiles(cfg.RuleFiles)
}

// inherit takes over the targets of the same alerting rules of the group
// this one replaces.
func (g *Group) inherit(old *Group) {
	old.evalMtx.Lock()
	defer old.evalMtx.Unlock()
	byID := map[string]*alertingRule{}
	for i, ar := range old.alerting {
		if ar != nil {
			byID[ruleID(old, i)] = ar
		}
	}
	for i, ar := range g.alerting {
		if o := byID[ruleID(g, i)]; ar != nil && o != nil {
			// Moved, not shared: the old group may still be read by an API
			// call that fetched it before the reload.
			ar.targets, o.targets = o.targets, map[uint64]*target{}
		}
	}
	g.prevAlerts, old.prevAlerts = old.prevAlerts, map[uint64]labels.Labels{}
}

// ruleID identifies a rule by its group, name and how many rules of that
// name come before it, so inserting or reordering rules keeps each one's
// state, as Prometheus's CopyState matches rules.
func ruleID(g *Group, i int) string {
	n := 0
	for _, r := range g.rules[:i] {
		if r.Name() == g.rules[i].Name() {
			n++
		}
	}
	return g.Key() + ";" + g.rules[i].Name() + ";" + strconv.Itoa(n)
}

func (m *Manager) claimRestored(g *Group) {
	now := m.o.Now()
	for i, ar := range g.alerting {
		if ts, ok := m.restored[ruleID(g, i)]; ok && ar != nil {
			for _, t := range ts {
				// Our own downtime is no evidence that a series stopped.
				t.LastSeen = later(t.LastSeen, now)
			}
			ar.targets = ts
			delete(m.restored, ruleID(g, i))
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Run evaluates the groups until ctx ends, then saves their state.
func (m *Manager) Run(ctx context.Context) error {
	m.mtx.Lock()
	if err := m.restore(); err != nil {
		m.o.Logger.Warn("rule state not restored; starting afresh", "file", m.o.SnapshotFile, "err", err)
	}
	m.running = ctx
	m.lifetime.Store(&ctx)
	for _, g := range m.groups {
		m.claimRestored(g)
		m.start(g)
	}
	m.restored = nil // rules added by later reloads start afresh
	m.mtx.Unlock()
	save := time.NewTicker(5 * time.Minute)
	defer save.Stop()
	for {
		select {
		case <-save.C:
			m.saveLogged()
		case <-ctx.Done():
			m.mtx.Lock()
			stops := m.takeStops()
			m.mtx.Unlock()
			for _, stop := range stops {
				stop()
			}
			m.saveLogged()
			return nil
		}
	}
}

func (m *Manager) saveLogged() {
	if err := m.save(); err != nil {
		m.o.Logger.Error("saving rule state failed", "file", m.o.SnapshotFile, "err", err)
	}
}

func (m *Manager) start(g *Group) {
	ctx, cancel := context.WithCancel(m.running)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.loop(ctx, m)
	}()
	m.stops[g] = func() { cancel(); <-done }
}

// loop evaluates right after a scrape brings the group's metrics, at most
// once per half interval, and every interval and a half without scrapes,
// so a window of N points holds N scrapes and nodata still fires when the
// scrapes stop.
func (g *Group) loop(ctx context.Context, m *Manager) {
	// Not at once: right after a start the store may hold nothing recent,
	// and every restored alert would look resolved and every series absent.
	timer := time.NewTimer(g.interval)
	defer timer.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ts := <-g.trigger:
			if ts.Sub(last) < g.interval/2 {
				continue
			}
			g.Eval(ctx, ts, m)
			last = ts
			timer.Reset(g.interval + g.interval/2)
		case <-timer.C:
			// On the second: groups whose timers fire together (all of
			// them, after a start) evaluate at one timestamp and so share
			// their queries (queryCache), as after a scrape.
			last = m.o.Now().Truncate(time.Second)
			g.Eval(ctx, last, m)
			timer.Reset(g.interval)
		}
	}
}

// OnScrape is the collector's subscriber: it wakes the groups that read
// what the scrape brought, without ever blocking the scrape.
func (m *Manager) OnScrape(e collector.Event) {
	if e.Err != nil {
		return
	}
	m.mtx.Lock()
	defer m.mtx.Unlock()
	for _, g := range m.groups {
		if g.reads(e.Metrics) {
			select {
			case g.trigger <- e.Time:
			default:
			}
		}
	}
}

// HasRule reports whether a loaded rule (alerting or recording) has the
// name.
func (m *Manager) HasRule(name string) bool {
	for _, g := range m.Groups() {
		for _, r := range g.rules {
			if r.Name() == name {
				return true
			}
		}
	}
	return false
}

// Groups returns the groups ordered by file and name.
func (m *Manager) Groups() []*Group {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	out := make([]*Group, 0, len(m.groups))
	for _, g := range m.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *Group) int { return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.name, b.name)) })
	return out
}

// The evaluation interface, as the manager provides it to groups.

func (m *Manager) query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	shared := context.Background()
	if p := m.lifetime.Load(); p != nil {
		shared = *p
	}
	return m.cache.do(ctx, shared, expr, ts, m.exec)
}

// exec runs one instant query. Results are shared read-only between rules.
func (m *Manager) exec(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	return InstantQuery(ctx, m.o.Engine, m.selects.queryable(m.o.Queryable, ts), expr, ts)
}

// InstantQuery runs expr at ts as rules do: a scalar result is one sample
// without labels, anything else but a vector is an error.
func InstantQuery(ctx context.Context, engine *promql.Engine, q storage.Queryable, expr string, ts time.Time) (promql.Vector, error) {
	qry, err := engine.NewInstantQuery(ctx, q, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{promql.Sample{T: v.T, F: v.V}}, nil
	}
	return nil, fmt.Errorf("rule result is a %s, not a vector or scalar", res.Value.Type())
}

func (m *Manager) appender(ctx context.Context) storage.Appender { return m.o.Appendable.Appender(ctx) }

func (m *Manager) env(g *Group) *env {
	var ext map[string]string
	if p := m.externalLabels.Load(); p != nil {
		ext = *p
	}
	return &env{interval: g.interval, thresholds: m.o.Thresholds, externalLabels: ext, externalURL: m.o.ExternalURL, url: m.url, groupLabels: g.labels, query: m.query, expandAlways: m.o.ExpandEachEvaluation, steps: m.o.Steps}
}

func (m *Manager) resendDelay() time.Duration { return m.o.ResendDelay }

func (m *Manager) notify(ctx context.Context, alerts []*Alert) { m.o.Notify(ctx, alerts) }

// EvalAt evaluates every group once at ts, in file and name order, on the
// caller's goroutine: what rule unit tests and benchmarks drive.
func (m *Manager) EvalAt(ctx context.Context, ts time.Time) {
	for _, g := range m.Groups() {
		g.Eval(ctx, ts, m)
	}
}
