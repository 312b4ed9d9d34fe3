package main

import (
	"context"
	"time"

	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// stepLedger is the evaluator's step accounting in the store: each step
// announced is written with the alert it produces, so a kill -9 neither
// repeats nor loses one.
type stepLedger struct{ st *store.Store }

func (l stepLedger) StepRecords(ctx context.Context, rule string) (map[string]evaluator.StepRecord, error) {
	recs, err := l.st.StepRecords(ctx, rule)
	if err != nil {
		return nil, err
	}
	out := make(map[string]evaluator.StepRecord, len(recs))
	for k, r := range recs {
		out[k] = evaluator.StepRecord{Period: r.Period, StartedAt: r.StartedAt, Announced: r.Announced}
	}
	return out, nil
}

func (l stepLedger) StartStepPeriod(ctx context.Context, rule, target, period string, startedAt time.Time) error {
	return l.st.StartStepPeriod(ctx, rule, target, period, startedAt)
}

// announcedValidity is how long a step alert's row stays firing if the
// evaluator that announced it never sends it: longer than its re-sends.
const announcedValidity = 10 * time.Minute

func (l stepLedger) AnnounceSteps(ctx context.Context, rule, target string, periodStart, now time.Time,
	alerts map[float64]*evaluator.Alert) (map[float64]time.Time, error) {
	rows := make(map[float64]store.Alert, len(alerts))
	for s, a := range alerts {
		ra := receiverAlert(a)
		ra.EndsAt = now.Add(announcedValidity)
		rows[s] = ra.ToStore(now)
	}
	return l.st.AnnounceSteps(ctx, rule, target, periodStart, now, rows)
}

// receiverAlert is an evaluator alert in Alertmanager's model: EndsAt is
// the resolution, or how long a firing alert stays valid without a
// re-send.
func receiverAlert(a *evaluator.Alert) receiver.Alert {
	ends := a.ValidUntil
	if a.Resolved() {
		ends = a.ResolvedAt
	}
	return receiver.Alert{Labels: a.Labels.Map(), Annotations: a.Annotations.Map(), StartsAt: a.FiredAt, EndsAt: ends, Detail: detailOf(a),
		GeneratorURL: a.GeneratorURL}
}

// detailOf is what ez-api's detector writes in an alert's metadata: the
// metric, the value, the threshold crossed, the window and the level, and
// a stepped alert's steps (the one it announces, then any crossed with it).
func detailOf(a *evaluator.Alert) *message.Detail {
	d := &message.Detail{Metric: a.Metric, Value: message.Number(a.Value), Threshold: message.Number(a.Threshold),
		Window: a.Window, Level: a.Labels.Get("severity")}
	switch {
	case len(a.Steps) > 1:
		d.Steps = a.Steps[1:]
	case len(a.Steps) == 1:
		d.Steps = a.Steps
	}
	return d
}
