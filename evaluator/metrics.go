package evaluator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
)

type metrics struct {
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
	evals    *prometheus.CounterVec
	lastEval *prometheus.GaugeVec
	lastTook *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_rule_evaluation_duration_seconds",
			Help:    "Time to evaluate one rule group once, all its rules.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"rule_group"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_rule_evaluation_failures_total",
			Help: "Rule evaluations that failed, by group.",
		}, []string{"rule_group"}),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_rule_group_evaluations_total",
			Help: "Group evaluations, by group.",
		}, []string{"rule_group"}),
		lastEval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_rule_group_last_evaluation_timestamp_seconds",
			Help: "When the group was last evaluated.",
		}, []string{"rule_group"}),
		lastTook: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_rule_group_last_duration_seconds",
			Help: "How long the group's last evaluation took.",
		}, []string{"rule_group"}),
	}
	if reg != nil {
		reg.MustRegister(m.duration, m.failures, m.evals, m.lastEval, m.lastTook)
	}
	return m
}

func (m *Manager) observe(g *Group, took time.Duration, failures int) {
	key := g.Key()
	m.m.duration.WithLabelValues(key).Observe(took.Seconds())
	m.m.evals.WithLabelValues(key).Inc()
	m.m.failures.WithLabelValues(key).Add(float64(failures))
	m.m.lastEval.WithLabelValues(key).Set(float64(g.lastEval.UnixNano()) / 1e9)
	m.m.lastTook.WithLabelValues(key).Set(took.Seconds())
}

// alertsCollector exposes ALERTS and ALERTS_FOR_STATE on /metrics, so a
// Prometheus scraping gatewarden sees its alerts as series.
type alertsCollector struct{ m *Manager }

// AlertsCollector returns the collector of the manager's alert gauges.
func (m *Manager) AlertsCollector() prometheus.Collector { return alertsCollector{m} }

// Describe sends nothing: the label names vary by alert, so the collector
// is unchecked.
func (alertsCollector) Describe(chan<- *prometheus.Desc) {}

func (c alertsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.m.Groups() {
		for _, a := range g.ActiveAlerts() {
			for _, s := range []struct {
				name string
				v    float64
			}{{"ALERTS", 1}, {"ALERTS_FOR_STATE", float64(a.ActiveAt.Unix())}} {
				ls := alertSeries(&a, s.name)
				names, values := make([]string, 0, ls.Len()), make([]string, 0, ls.Len())
				ls.Range(func(l labels.Label) {
					if l.Name != "__name__" {
						names, values = append(names, l.Name), append(values, l.Value)
					}
				})
				desc := prometheus.NewDesc(s.name, "Alert state of gatewarden's rules.", names, nil)
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.v, values...)
			}
		}
	}
}
