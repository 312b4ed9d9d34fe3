package notifier

import (
	"github.com/prometheus/client_golang/prometheus"
)

const amLabel = "alertmanager"

type metrics struct {
	sent, errors  *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	dropped       prometheus.Counter
	queueLength   prometheus.Gauge
	queueCapacity prometheus.Gauge
}

// newMetrics mirrors prometheus_notifications_*, except that sent counts
// only alerts an Alertmanager accepted and dropped is unlabelled: there is
// one queue for all Alertmanagers, not one each.
func newMetrics(r prometheus.Registerer, discovered func() float64) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notifications_sent_total",
			Help: "Alerts an Alertmanager accepted.",
		}, []string{amLabel}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notifications_errors_total",
			Help: "Alerts in requests to an Alertmanager that failed.",
		}, []string{amLabel}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatewarden_notifications_latency_seconds",
			Help: "Time for an Alertmanager to accept a batch of alerts.",
			// The default buckets end at the default 10 s timeout.
			Buckets: prometheus.DefBuckets,
		}, []string{amLabel}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_notifications_dropped_total",
			Help: "Alerts that reached no Alertmanager: pushed out of a full queue, refused by every Alertmanager, or left in the queue at shutdown.",
		}),
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_notifications_queue_length",
			Help: "Alerts waiting to be sent.",
		}),
		queueCapacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_notifications_queue_capacity",
			Help: "Alerts the queue holds before it drops the oldest.",
		}),
	}
	if r != nil {
		r.MustRegister(m.sent, m.errors, m.latency, m.dropped, m.queueLength, m.queueCapacity,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gatewarden_notifications_alertmanagers_discovered",
				Help: "Alertmanagers alerts are sent to.",
			}, discovered))
	}
	return m
}

// track starts an Alertmanager's series at zero, so that rate() sees its
// first error, and forget removes a departed one's.
func (m *metrics) track(am string) {
	m.sent.WithLabelValues(am)
	m.errors.WithLabelValues(am)
}

func (m *metrics) forget(am string) {
	m.sent.DeleteLabelValues(am)
	m.errors.DeleteLabelValues(am)
	m.latency.DeleteLabelValues(am)
}
