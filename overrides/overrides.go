// Package overrides applies the runtime threshold overrides kept in the
// store to the evaluator's rules: per rule, per level, and per target label
// set (an override for master="m1" beats one for the whole rule).
//
// The evaluator asks for a threshold for every target of every rule at every
// evaluation, so lookups read an immutable snapshot without locks; writes
// through the admin API replace the snapshot (Reload), and a periodic
// refresh picks up writes of other gatewardens sharing a PostgreSQL store.
package overrides

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/store"
)

// Lister reads every override; the store implements it.
type Lister interface {
	ListOverrides(ctx context.Context, rule string) ([]store.Override, error)
}

// entry is one override: its labels must all match the target's.
type entry struct {
	match labels.Labels
	value float64
}

// snapshot maps rule → level → overrides, most specific first.
type snapshot map[string]map[string][]entry

// Set is the current overrides. The zero value has none.
type Set struct {
	src      Lister
	log      *slog.Logger
	snap     atomic.Pointer[snapshot]
	loaded   prometheus.Gauge
	failures prometheus.Counter
	count    prometheus.Gauge
}

// New returns an empty Set reading from src; reg may be nil.
func New(src Lister, logger *slog.Logger, reg prometheus.Registerer) *Set {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{
		src: src, log: logger,
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_overrides_last_load_timestamp_seconds",
			Help: "When the threshold overrides were last loaded from the store.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_overrides_load_failures_total",
			Help: "Loads of the threshold overrides that failed; the previous ones stay in force.",
		}),
		count: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_overrides",
			Help: "Threshold overrides in force.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.loaded, s.failures, s.count)
	}
	return s
}

// LevelName is the store's name for a rule level: the severity, "min" for
// a condition's floor, "value" for a rule without levels.
func LevelName(l rules.Severity) string {
	if l == 0 {
		return "value"
	}
	return l.String()
}

// Reload replaces the overrides with the store's; on failure the old ones
// stay in force.
func (s *Set) Reload(ctx context.Context) error {
	list, err := s.src.ListOverrides(ctx, "")
	if err != nil {
		s.failures.Inc()
		return err
	}
	snap := snapshot{}
	for _, o := range list {
		byLevel := snap[o.Rule]
		if byLevel == nil {
			byLevel = map[string][]entry{}
			snap[o.Rule] = byLevel
		}
		byLevel[o.Level] = append(byLevel[o.Level], entry{match: labels.FromMap(o.Labels), value: o.Value})
	}
	for _, byLevel := range snap {
		for _, es := range byLevel {
			// Most labels first: the most specific override wins.
			slices.SortStableFunc(es, func(a, b entry) int { return b.match.Len() - a.match.Len() })
		}
	}
	s.snap.Store(&snap)
	s.loaded.Set(float64(time.Now().Unix()))
	s.count.Set(float64(len(list)))
	return nil
}

// Threshold implements the evaluator's Thresholds. An escalating rule's
// critical level follows an override of its warning value, so "critical at
// twice the limit" stays true when the limit changes.
func (s *Set) Threshold(r *rules.Rule, target labels.Labels, level rules.Severity, def float64) float64 {
	p := s.snap.Load()
	if p == nil {
		return def
	}
	byLevel := (*p)[r.Name()]
	if byLevel == nil {
		return def
	}
	if v, ok := lookup(byLevel[LevelName(level)], target); ok {
		return v
	}
	if level == rules.Critical && r.Escalate != 0 {
		if v, ok := lookup(byLevel[LevelName(rules.Warning)], target); ok {
			return v * r.Escalate
		}
	}
	return def
}

func lookup(es []entry, target labels.Labels) (float64, bool) {
	for _, e := range es {
		ok := true
		e.match.Range(func(l labels.Label) {
			if ok && target.Get(l.Name) != l.Value {
				ok = false
			}
		})
		if ok {
			return e.value, true
		}
	}
	return 0, false
}

// Run reloads every interval until ctx ends, so overrides written by
// another gatewarden on the same store apply here too. The first load is
// the caller's, before the first evaluation.
func (s *Set) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("loading threshold overrides failed; keeping the previous ones", "err", err)
		}
	}
}

// ParseLevel reads a level name as the API and store write it.
func ParseLevel(s string) (rules.Severity, bool) {
	switch s {
	case "value":
		return 0, true
	case "min":
		return rules.MinLevel, true
	case "critical", "1":
		return rules.Critical, true
	case "warning", "2":
		return rules.Warning, true
	case "info", "3":
		return rules.Info, true
	}
	return 0, false
}
