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

// writeAlerts appends ALERTS and ALERTS_FOR_STATE for every pending or
// firing alert, and staleness markers for those gone since the last
// evaluation, so the alert state is queryable locally as in Prometheus.
func (g *Group) writeAlerts(app storage.Appender, ts time.Time) {
	now := ts.UnixMilli()
	cur := map[uint64]labels.Labels{}
	for _, a := range g.alerts() {
		for _, s := range []struct {
			name string
			v    float64
		}{{"ALERTS", 1}, {"ALERTS_FOR_STATE", float64(a.ActiveAt.Unix())}} {
			ls := alertSeries(a, s.name)
			cur[ls.Hash()] = ls
			_, _ = app.Append(0, ls, now, s.v)
		}
	}
	for h, ls := range g.prevAlerts {
		if _, ok := cur[h]; !ok {
			_, _ = app.Append(0, ls, now, staleNaN)
		}
	}
	g.prevAlerts = cur
}
