package evaluator

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
)

// target is one output series of an alerting rule's expression and all the
// rule remembers about it. Fields are exported for the snapshot.
type target struct {
	Labels   labels.Labels // the series' labels, without __name__
	Points   []rules.Point // the window of values, oldest first
	Anchor   int64         // ms; evaluation slots are interval-long from here
	LastSeen time.Time     // the last evaluation whose output had the series
	Value    float64

	Alert  *Alert // nil while inactive
	NoData *Alert

	// Stepped thresholds: the period (its label value and start), how
	// many steps it has announced, and when each was.
	StepsDone   int
	Period      string
	PeriodStart time.Time
	Announced   map[float64]time.Time
	LastValue   float64
	StepAlerts  []*Alert
}

// verdict is what one evaluation says about one target.
type verdict struct {
	judged   bool // false: too few points, nothing changes
	hit      bool
	severity rules.Severity
	// threshold is what the level that holds was judged against; NaN
	// without a condition.
	threshold float64
}

// record adds the evaluation's value to the window, keeping only what the
// window can use. A window holds one point per interval-long slot, the
// slots anchored at the target's first point (a scrape's phase, so later
// scrapes fall mid-slot): an evaluation in the slot of the last point
// replaces it, and several targets' scrapes within one interval never make
// "the last 3 points" three scrapes of one of them.
func (t *target) record(p rules.Point, keep int, interval time.Duration) {
	iv := interval.Milliseconds()
	if len(t.Points) == 0 {
		t.Anchor = p.T
	}
	if n := len(t.Points); n > 0 && iv > 0 && (p.T-t.Anchor)/iv == (t.Points[n-1].T-t.Anchor)/iv {
		t.Points[n-1] = p
		return
	}
	if len(t.Points) >= keep {
		n := copy(t.Points, t.Points[len(t.Points)-keep+1:])
		t.Points = t.Points[:n]
	}
	t.Points = append(t.Points, p)
}

// active reports whether the target holds alerts still to be sent.
func (t *target) active() bool {
	return t.Alert != nil || t.NoData != nil || len(t.StepAlerts) > 0
}

// resolveAll ends every alert of a target that is gone for good.
func (t *target) resolveAll(ts time.Time) {
	for _, a := range t.each(nil, func(a *Alert) bool { return !a.Resolved() }) {
		a.State, a.ResolvedAt = StateInactive, ts
	}
	t.StepsDone, t.PeriodStart, t.Announced = 0, time.Time{}, nil
}

// each appends to out the target's alerts for which keep says so.
func (t *target) each(out []*Alert, keep func(*Alert) bool) []*Alert {
	for _, a := range [2]*Alert{t.Alert, t.NoData} {
		if a != nil && keep(a) {
			out = append(out, a)
		}
	}
	for _, a := range t.StepAlerts {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}
