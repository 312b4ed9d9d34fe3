package evaluator

import (
	"encoding/gob"
	"errors"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
)

// The snapshot mirrors target and Alert with plain label lists, which gob
// can encode: a restart neither loses pending progress nor fires a storm
// again nor repeats a step notice.
type (
	snapshot struct {
		Saved time.Time
		Rules map[string]map[uint64]snapTarget
	}
	snapTarget struct {
		Labels      []labels.Label
		Points      []rules.Point
		Anchor      int64
		LastSeen    time.Time
		Value       float64
		Alert       *snapAlert
		NoData      *snapAlert
		StepsDone   int
		Period      string
		PeriodStart time.Time
		Announced   map[float64]time.Time
		LastValue   float64
		StepAlerts  []*snapAlert
	}
	snapAlert struct {
		State                                                      State
		Labels, Annotations                                        []labels.Label
		Value                                                      float64
		Severity                                                   rules.Severity
		ActiveAt, FiredAt, ResolvedAt, LastSentAt, KeepFiringSince time.Time
		Steps                                                      []float64
		PeriodStart                                                time.Time
		Action                                                     string
		// Threshold is nil in a snapshot from before it was kept.
		Threshold      *float64
		Window, Metric string
	}
)

func list(ls labels.Labels) []labels.Label {
	out := make([]labels.Label, 0, ls.Len())
	ls.Range(func(l labels.Label) { out = append(out, l) })
	return out
}

func toSnap(a *Alert) *snapAlert {
	if a == nil {
		return nil
	}
	th := a.Threshold
	return &snapAlert{a.State, list(a.Labels), list(a.Annotations), a.Value, a.Severity, a.ActiveAt, a.FiredAt, a.ResolvedAt, a.LastSentAt, a.KeepFiringSince, a.Steps, a.PeriodStart, a.Action,
		&th, a.Window, a.Metric}
}

func fromSnap(s *snapAlert) *Alert {
	if s == nil {
		return nil
	}
	th := math.NaN()
	if s.Threshold != nil {
		th = *s.Threshold
	}
	return &Alert{State: s.State, Labels: labels.New(s.Labels...), Annotations: labels.New(s.Annotations...), Value: s.Value, Severity: s.Severity,
		ActiveAt: s.ActiveAt, FiredAt: s.FiredAt, ResolvedAt: s.ResolvedAt, LastSentAt: s.LastSentAt, KeepFiringSince: s.KeepFiringSince, Steps: s.Steps, PeriodStart: s.PeriodStart, Action: s.Action,
		Threshold: th, Window: s.Window, Metric: s.Metric}
}

func alertsToSnap(as []*Alert) []*snapAlert {
	out := make([]*snapAlert, len(as))
	for i, a := range as {
		out[i] = toSnap(a)
	}
	return out
}

func alertsFromSnap(ss []*snapAlert) []*Alert {
	out := make([]*Alert, len(ss))
	for i, s := range ss {
		out[i] = fromSnap(s)
	}
	return out
}

// save writes every rule's targets atomically: a crash mid-write leaves
// the previous snapshot.
func (m *Manager) save() error {
	if m.o.SnapshotFile == "" {
		return nil
	}
	snap := snapshot{Saved: m.o.Now(), Rules: map[string]map[uint64]snapTarget{}}
	for _, g := range m.Groups() {
		g.evalMtx.Lock()
		for i, ar := range g.alerting {
			if ar == nil {
				continue
			}
			ts := make(map[uint64]snapTarget, len(ar.targets))
			for fp, t := range ar.targets {
				ts[fp] = snapTarget{list(t.Labels), slices.Clone(t.Points), t.Anchor, t.LastSeen, t.Value, toSnap(t.Alert), toSnap(t.NoData), t.StepsDone, t.Period, t.PeriodStart, maps.Clone(t.Announced), t.LastValue, alertsToSnap(t.StepAlerts)}
			}
			snap.Rules[ruleID(g, i)] = ts
		}
		g.evalMtx.Unlock()
	}
	tmp := m.o.SnapshotFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(&snap); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, m.o.SnapshotFile)
}

// restore loads the snapshot for groups to claim by rule identity; rules
// that changed or vanished since are dropped with their state.
func (m *Manager) restore() error {
	if m.o.SnapshotFile == "" {
		return nil
	}
	f, err := os.Open(m.o.SnapshotFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var snap snapshot
	if err := gob.NewDecoder(f).Decode(&snap); err != nil {
		return err
	}
	m.restored = map[string]map[uint64]*target{}
	for id, ts := range snap.Rules {
		targets := make(map[uint64]*target, len(ts))
		for fp, st := range ts {
			t := &target{Labels: labels.New(st.Labels...), Points: st.Points, Anchor: st.Anchor, LastSeen: st.LastSeen, Value: st.Value,
				Alert: fromSnap(st.Alert), NoData: fromSnap(st.NoData), StepsDone: st.StepsDone, Period: st.Period, PeriodStart: st.PeriodStart, Announced: st.Announced, LastValue: st.LastValue, StepAlerts: alertsFromSnap(st.StepAlerts)}
			periodFromSteps(t)
			targets[fp] = t
		}
		m.restored[id] = targets
	}
	return nil
}

// periodFromSteps dates the period of a target saved before periods had a
// start: from its first step still firing, so that the restart neither
// takes it for a new period nor announces its steps again.
func periodFromSteps(t *target) {
	if !t.PeriodStart.IsZero() || t.StepsDone == 0 {
		return
	}
	for _, a := range t.StepAlerts {
		if a.Resolved() {
			continue
		}
		if t.PeriodStart.IsZero() || a.ActiveAt.Before(t.PeriodStart) {
			t.PeriodStart = a.ActiveAt
		}
	}
	for _, a := range t.StepAlerts {
		if !a.Resolved() {
			a.PeriodStart = t.PeriodStart
			t.announce(a.Steps[0], a.FiredAt)
		}
	}
}
