package receiver

import "github.com/prometheus/client_golang/prometheus"

type dispatchMetrics struct {
	suppressed      *prometheus.CounterVec
	enqueued        prometheus.Counter
	enqueueFailures prometheus.Counter
}

// newDispatchMetrics registers the dispatcher's metrics.
func newDispatchMetrics(reg prometheus.Registerer, d *Dispatcher) *dispatchMetrics {
	m := &dispatchMetrics{
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notifications_suppressed_total",
			Help: "Alerts held back from a notification, by reason: cooldown, silenced, inhibited, time_interval, duplicate.",
		}, []string{"reason"}),
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_notifications_enqueued_total",
			Help: "Notifications written to the outbox.",
		}),
		enqueueFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_notifications_enqueue_failures_total",
			Help: "Notifications that could not be written to the outbox.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.suppressed, m.enqueued, m.enqueueFailures, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_groups",
			Help: "Aggregation groups the receiver holds.",
		}, func() float64 { return float64(d.ngroups.Load()) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_dispatch_queue_length",
			Help: "Batches of alerts taken in and waiting for the dispatcher.",
		}, func() float64 { return float64(len(d.in)) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_dispatch_queue_capacity",
			Help: "Batches the dispatcher's queue holds before ingest waits for it.",
		}, func() float64 { return float64(cap(d.in)) }))
	}
	return m
}
