package receiver

import "github.com/prometheus/client_golang/prometheus"

type dispatchMetrics struct {
	suppressed      *prometheus.CounterVec
	claims          *prometheus.CounterVec
	enqueued        prometheus.Counter
	enqueueFailures prometheus.Counter
	rebuilt         prometheus.Counter
	resyncFailures  prometheus.Counter
	resyncDuration  prometheus.Histogram
}

// newDispatchMetrics registers the dispatcher's metrics.
func newDispatchMetrics(reg prometheus.Registerer, d *Dispatcher) *dispatchMetrics {
	m := &dispatchMetrics{
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notifications_suppressed_total",
			Help: "State changes of alerts recorded as suppressed on a channel, by reason: cooldown, silenced, inhibited, time_interval, resolved_early, not_notified, superseded, own_channel.",
		}, []string{"reason"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notification_claims_total",
			Help: "State changes of alerts claimed on a channel in the ledger: made by this process, or taken already (by another receiver, or before a restart).",
		}, []string{"result"}),
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_notifications_enqueued_total",
			Help: "Notifications written to the outbox.",
		}),
		enqueueFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_notifications_enqueue_failures_total",
			Help: "Flushes of a group whose ledger transaction failed; retried.",
		}),
		rebuilt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_receiver_rebuilt_alerts_total",
			Help: "Alerts the dispatcher took from the store: at start, and those another receiver recorded.",
		}),
		resyncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_receiver_resync_failures_total",
			Help: "Reads of the store's open alerts that failed.",
		}),
		resyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatewarden_receiver_resync_duration_seconds",
			Help:    "Duration of a rebuild of the dispatcher's groups from the store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.suppressed, m.claims, m.enqueued, m.enqueueFailures, m.rebuilt, m.resyncFailures, m.resyncDuration,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
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
