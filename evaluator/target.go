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
	LastSeen time.Time     // the last evaluation whose output had the series
	Value    float64

	Alert  *Alert // nil while inactive
	NoData *Alert

	// Stepped thresholds: how many steps this period has announced.
	StepsDone  int
	Period     string
	LastValue  float64
	StepAlerts []*Alert
}

// verdict is what one evaluation says about one target.
type verdict struct {
	judged   bool // false: too few points, nothing changes
	hit      bool
	severity rules.Severity
}

// record adds the evaluation's value to the window, keeping only what the
// window can use.
func (t *target) record(p rules.Point, keep int) {
	if len(t.Points) >= keep {
		n := copy(t.Points, t.Points[len(t.Points)-keep+1:])
		t.Points = t.Points[:n]
	}
	t.Points = append(t.Points, p)
}

// active reports whether the target holds anything that must be kept.
func (t *target) active() bool {
	return t.Alert != nil || t.NoData != nil || len(t.StepAlerts) > 0 || t.StepsDone > 0
}
