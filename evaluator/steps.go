package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// StepLedger keeps the accounting of stepped thresholds where a kill -9
// cannot take it: the period each target is in and the steps announced in
// it (seed 003: a threshold notice is never lost nor repeated). The
// daemon's is the store; without one the accounting lives in the rule
// state and its snapshot only.
type StepLedger interface {
	// StepRecords returns where every target of a rule stands, by target.
	StepRecords(ctx context.Context, rule string) (map[string]StepRecord, error)
	// StartStepPeriod records that a target entered a new period.
	StartStepPeriod(ctx context.Context, rule, target, period string, startedAt time.Time) error
	// AnnounceSteps records the steps (keys of alerts) as announced in the
	// target's period, with the alerts they produce, all or nothing, and
	// returns when each was announced: now, or earlier for a step another
	// evaluator already announced.
	AnnounceSteps(ctx context.Context, rule, target string, periodStart, now time.Time, alerts map[float64]*Alert) (map[float64]time.Time, error)
}

// StepRecord is one target's period and its announced steps.
type StepRecord struct {
	Period    string
	StartedAt time.Time
	Announced map[float64]time.Time
}

// PeriodStartLabel names the period of a stepped rule's alert: each
// period's step is an alert of its own, never a repeat of the last
// period's.
const PeriodStartLabel = "period_start"

func targetKey(fp uint64) string { return strconv.FormatUint(fp, 16) }

// loadSteps reads the rule's records once, before its first evaluation;
// each target takes its record when it is next seen.
func (ar *alertingRule) loadSteps(ctx context.Context, l StepLedger) error {
	if l == nil || ar.records != nil {
		return nil
	}
	recs, err := l.StepRecords(ctx, ar.id)
	if err != nil {
		return fmt.Errorf("reading the announced steps: %w", err)
	}
	ar.records = make(map[uint64]StepRecord, len(recs))
	for k, r := range recs {
		if fp, err := strconv.ParseUint(k, 16, 64); err == nil {
			ar.records[fp] = r
		}
	}
	return nil
}

// steps announces each threshold a target's value crosses once per
// period, all crossed steps at once when one evaluation jumps past
// several. With a ledger, nothing is announced that is not written there
// first; a ledger that cannot be written is tried again next evaluation.
func (ar *alertingRule) steps(ctx context.Context, t *target, fp uint64, ts time.Time, e *env) error {
	r := ar.rule
	// Milliseconds, as the TSDB keeps time: the period's label and the
	// steps' start read back from the ledger after a restart are these.
	ts = ts.UTC().Truncate(time.Millisecond)
	if rec, ok := ar.records[fp]; ok {
		ar.adopt(t, rec)
		delete(ar.records, fp)
	}
	// A new period: the first sighting, the period label changed, or the
	// value fell back below the first step (a new month's spend); a dip
	// between steps is not one.
	p := t.Labels.Get(r.PeriodLabel)
	if t.PeriodStart.IsZero() || r.PeriodLabel != "" && p != t.Period || t.Value < r.Steps[0] && t.StepsDone > 0 {
		if e.steps != nil {
			if err := e.steps.StartStepPeriod(ctx, ar.id, targetKey(fp), p, ts); err != nil {
				return fmt.Errorf("recording a new period: %w", err)
			}
		}
		for _, a := range t.StepAlerts {
			if !a.Resolved() {
				a.State, a.ResolvedAt = StateInactive, ts
			}
		}
		t.Period, t.PeriodStart, t.StepsDone, t.Announced = p, ts, 0, nil
	}
	t.LastValue = t.Value
	crossed := 0
	for crossed < len(r.Steps) && t.Value >= r.Steps[crossed] {
		crossed++
	}
	if crossed <= t.StepsDone {
		return nil
	}
	var fresh []float64
	for _, s := range r.Steps[t.StepsDone:crossed] {
		if _, done := t.Announced[s]; !done {
			fresh = append(fresh, s)
		}
	}
	alerts := make(map[float64]*Alert, len(fresh))
	for _, s := range fresh {
		a := &Alert{State: StateFiring, ActiveAt: ts, FiredAt: ts, Value: t.Value, Action: r.Action,
			Steps: append([]float64{s}, fresh...), PeriodStart: t.PeriodStart, Threshold: s, Window: ar.period(t)}
		ar.render(ctx, t, a, ts, e, ar.stepLabels(a)...)
		alerts[s] = a
	}
	if e.steps != nil && len(alerts) > 0 {
		when, err := e.steps.AnnounceSteps(ctx, ar.id, targetKey(fp), t.PeriodStart, ts, alerts)
		if err != nil {
			return fmt.Errorf("announcing steps: %w", err)
		}
		for s, a := range alerts {
			if at := when[s]; !at.Equal(ts) {
				// Announced already (by another evaluator on the store):
				// the same alert, from the same start.
				a.ActiveAt, a.FiredAt, a.Steps = at, at, []float64{s}
				ar.render(ctx, t, a, ts, e, ar.stepLabels(a)...)
			}
		}
	}
	for _, s := range fresh {
		t.StepAlerts = append(t.StepAlerts, alerts[s])
		t.announce(s, alerts[s].FiredAt)
	}
	t.StepsDone = crossed
	return nil
}

// stepLabels are the labels that tell a step alert apart: its step and
// its period.
func (ar *alertingRule) stepLabels(a *Alert) []labels.Label {
	return []labels.Label{{Name: "step", Value: formatStep(a.Steps[0])},
		{Name: PeriodStartLabel, Value: a.PeriodStart.UTC().Format(time.RFC3339Nano)}}
}

// announce marks step s announced at at in the target's period.
func (t *target) announce(s float64, at time.Time) {
	if t.Announced == nil {
		t.Announced = map[float64]time.Time{}
	}
	t.Announced[s] = at
}

// adopt takes the ledger's word for where a target stands, the first time
// it is seen after a start: the snapshot may be older than a kill -9.
// The steps announced in the current period fire again from when they
// were announced, so a restart neither repeats nor resolves them.
func (ar *alertingRule) adopt(t *target, rec StepRecord) {
	if rec.StartedAt.Before(t.PeriodStart) {
		return
	}
	if !rec.StartedAt.Equal(t.PeriodStart) {
		for _, a := range t.StepAlerts {
			if !a.Resolved() && a.PeriodStart.Before(rec.StartedAt) {
				a.State, a.ResolvedAt = StateInactive, rec.StartedAt
			}
		}
	}
	t.Period, t.PeriodStart, t.StepsDone, t.Announced = rec.Period, rec.StartedAt, 0, nil
	for i, s := range ar.rule.Steps {
		at, ok := rec.Announced[s]
		if !ok {
			continue
		}
		t.StepsDone = i + 1
		t.announce(s, at)
		known := slices.ContainsFunc(t.StepAlerts, func(a *Alert) bool {
			return a.Steps[0] == s && a.PeriodStart.Equal(rec.StartedAt) && !a.Resolved()
		})
		if !known {
			t.StepAlerts = append(t.StepAlerts, &Alert{State: StateFiring, ActiveAt: at, FiredAt: at, Value: t.Value,
				Action: ar.rule.Action, Steps: []float64{s}, PeriodStart: rec.StartedAt, Threshold: s, Window: ar.period(t)})
		}
	}
}

// period names a stepped alert's window in its metadata: the period label's
// value (monthly), or "period" for a rule whose periods start when the
// value drops.
func (ar *alertingRule) period(t *target) string {
	if p := t.Labels.Get(ar.rule.PeriodLabel); ar.rule.PeriodLabel != "" && p != "" {
		return p
	}
	return "period"
}
