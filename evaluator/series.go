package evaluator

import (
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

var staleNaN = math.Float64frombits(value.StaleNaN)

// alertSeries are the labels of an alert's ALERTS series, as Prometheus
// writes them: the alert's labels plus its state.
func alertSeries(a *Alert, name string) labels.Labels {
	lb := labels.NewBuilder(a.Labels).Set(labels.MetricName, name)
	if name == "ALERTS" {
		lb.Set("alertstate", a.State.String())
	}
	return lb.Labels()
}

// writtenSeries are an alert's ALERTS and ALERTS_FOR_STATE series as last
// written, for the labels, state and store references they were built
// for: a firing alert writes the same two series every evaluation, and
// with thousands of alerts rebuilding, hashing and looking them up was a
// tenth of a cycle. A reference the store no longer knows is looked up
// again by the store itself.
type writtenSeries struct {
	labels labels.Labels
	state  State
	series [2]labels.Labels
	hashes [2]uint64
	refs   [2]storage.SeriesRef
}

var alertSeriesNames = [2]string{"ALERTS", "ALERTS_FOR_STATE"}

// of returns the alert's two series, rebuilt when its labels or state
// changed.
func (w *writtenSeries) of(a *Alert) *writtenSeries {
	if w.series[0].IsEmpty() || w.state != a.State || !labels.Equal(w.labels, a.Labels) {
		*w = writtenSeries{labels: a.Labels, state: a.State}
		for i, name := range alertSeriesNames {
			w.series[i] = alertSeries(a, name)
			w.hashes[i] = w.series[i].Hash()
		}
	}
	return w
}

// writeAlerts appends ALERTS and ALERTS_FOR_STATE for every pending or
// firing alert, and staleness markers for those gone since the last
// evaluation, so the alert state is queryable locally as in Prometheus.
func (g *Group) writeAlerts(app storage.Appender, ts time.Time) {
	now := ts.UnixMilli()
	cur := make(map[uint64]labels.Labels, len(g.prevAlerts))
	for _, a := range g.alerts() {
		w := a.written.of(a)
		values := [2]float64{1, float64(a.ActiveAt.Unix())}
		for i := range w.series {
			cur[w.hashes[i]] = w.series[i]
			if ref, err := app.Append(w.refs[i], w.series[i], now, values[i]); err == nil {
				w.refs[i] = ref
			}
		}
	}
	for h, ls := range g.prevAlerts {
		if _, ok := cur[h]; !ok {
			_, _ = app.Append(0, ls, now, staleNaN)
		}
	}
	g.prevAlerts = cur
}
