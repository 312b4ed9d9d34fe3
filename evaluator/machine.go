package evaluator

import (
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
)

// advance moves a target's alert through Prometheus's state machine,
// extended with levels, recovery and the observation window. It returns
// the alerts that changed in a way receivers must hear of: a new firing
// alert, a resolved one, or a change of level (the old level resolves, the
// new one fires).
func advance(r *rules.Rule, t *target, v verdict, recovered bool, ts time.Time) (changed []*Alert) {
	a := t.Alert
	if a != nil && a.Resolved() {
		a = nil // a resolved alert lingers only to be re-sent
	}
	switch {
	case !v.judged:
		return nil
	case v.hit:
		if a == nil {
			a = &Alert{State: StatePending, ActiveAt: ts, Severity: v.severity, Action: r.Action}
			t.Alert = a
		}
		a.KeepFiringSince, a.Threshold = time.Time{}, v.threshold
		if a.State == StateFiring && v.severity != a.Severity {
			old := *a
			old.State, old.ResolvedAt = StateInactive, ts
			changed = append(changed, &old)
			a.Severity, a.FiredAt, a.LastSentAt = v.severity, ts, time.Time{}
			return append(changed, a)
		}
		a.Severity = v.severity
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= time.Duration(r.For) {
			a.State, a.FiredAt = StateFiring, ts
			changed = append(changed, a)
		}
		return changed
	case a == nil:
		return nil
	case a.State == StatePending:
		t.Alert = nil // a pending alert that stops holding is forgotten, as in Prometheus
		return nil
	case !recovered:
		// Hysteresis: out of the firing condition but not yet into the
		// recovery one. Still firing, and the observation window waits.
		a.KeepFiringSince = time.Time{}
		return nil
	}
	if keep := time.Duration(r.KeepFiringFor); keep > 0 {
		if a.KeepFiringSince.IsZero() {
			a.KeepFiringSince = ts
		}
		if ts.Sub(a.KeepFiringSince) < keep {
			return nil
		}
	}
	a.State, a.ResolvedAt = StateInactive, ts
	return []*Alert{a}
}

// judge applies a rule's condition and levels to a target's window. The
// most severe level that holds wins; a rule without condition hits on every
// series its expression returns, as in Prometheus.
func judge(r *rules.Rule, levels []rules.Level, t *target, now int64, interval time.Duration, th Thresholds) verdict {
	c := r.Condition
	if c == nil {
		return verdict{judged: true, hit: true, threshold: math.NaN()} // the expression's own, from its facts
	}
	pts := recent(t.Points, c.Lookback(), now, interval)
	threshold := func(level rules.Severity, def float64) float64 {
		v := th.Threshold(r, t.Labels, level, def)
		if c.Min == 0 {
			return v
		}
		return c.Floor(v, th.Threshold(r, t.Labels, rules.MinLevel, c.Min))
	}
	if len(levels) == 0 {
		th := threshold(0, c.Value)
		holds, judged := c.Judge(pts, now, th)
		return verdict{judged: judged, hit: holds, threshold: th}
	}
	v := verdict{threshold: math.NaN()}
	for _, l := range levels {
		th := threshold(l.Level, l.Value)
		holds, judged := c.Judge(pts, now, th)
		v.judged = v.judged || judged
		if holds {
			return verdict{judged: true, hit: true, severity: l.Level, threshold: th}
		}
	}
	return v
}

// recoveredBy says whether a firing alert may start to resolve: always
// without a recovery condition, else only when that condition holds.
func recoveredBy(r *rules.Rule, t *target, now int64, interval time.Duration, th Thresholds) bool {
	rc := r.Recover
	if rc == nil {
		return true
	}
	holds, judged := rc.Judge(recent(t.Points, rc.Lookback(), now, interval), now, th.Threshold(r, t.Labels, 0, rc.Value))
	return holds && judged
}

// recent keeps the points of the window's span only: "the last 3 points"
// means the last 3 evaluations, not 3 points spread over a gap in the data,
// which is also what the exported PromQL sees.
func recent(points []rules.Point, w rules.Window, now int64, interval time.Duration) []rules.Point {
	return rules.Window{Duration: w.Span(interval)}.Select(points, now)
}

// Thresholds supplies the threshold for a rule, target and level; runtime
// overrides implement it. level is 0 for a rule without levels.
type Thresholds interface {
	Threshold(r *rules.Rule, target labels.Labels, level rules.Severity, def float64) float64
}

// defaults uses the values written in the rule.
type defaults struct{}

func (defaults) Threshold(_ *rules.Rule, _ labels.Labels, _ rules.Severity, def float64) float64 {
	return def
}
