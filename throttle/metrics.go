package throttle

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	trigger   *prometheus.CounterVec
	success   *prometheus.CounterVec
	failure   *prometheus.CounterVec
	execution prometheus.Histogram
	mttr      prometheus.Histogram
	active    prometheus.GaugeFunc
	queued    prometheus.GaugeFunc
	automated prometheus.Gauge
	diffs     *prometheus.CounterVec
	reconcile *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, active, queued func() float64) *metrics {
	m := &metrics{
		trigger: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_throttle_trigger_total",
			Help: "Throttle decisions on anomalous plugin instances, by decision (throttle, step, dry_run, exempt, blast_radius, already_limited).",
		}, []string{"decision"}),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_throttle_success_total",
			Help: "Gateway throttle operations acknowledged and verified, by operation (apply, renew, step, release).",
		}, []string{"op"}),
		failure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_throttle_failure_total",
			Help: "Gateway throttle operations that failed after their retries, by operation and reason.",
		}, []string{"op", "reason"}),
		// From the evaluation that saw the third anomalous sample to the
		// gateway's verified acknowledgement: the use case allows 30 s.
		execution: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatewarden_throttle_execution_seconds",
			Help:    "Time from the anomaly's detection to the throttle acknowledged by the gateway.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		// From the throttle to CPU back under the recovery threshold: the
		// use case asks for 2 minutes.
		mttr: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatewarden_throttle_mttr_seconds",
			Help:    "Time from a throttle applied to its instance's CPU back under the recovery threshold.",
			Buckets: []float64{10, 20, 30, 60, 90, 120, 180, 300, 600, 1200, 3600},
		}),
		active: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_throttle_active",
			Help: "Plugin instances under a throttle (or a gateway call towards one), dry runs excluded.",
		}, active),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_throttle_queued_jobs",
			Help: "Gateway calls, audit records and alerts waiting for a throttle worker.",
		}, queued),
		automated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_throttle_automation_enabled",
			Help: "1 while the auto-throttle acts on anomalies, 0 while its kill switch is off (anomalies are alerts only).",
		}),
		diffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_throttle_reconcile_differences_total",
			Help: "Differences reconcile found between the gateway's throttle list and gatewarden's state, by kind (orphan, foreign, missing, limit).",
		}, []string{"kind"}),
		reconcile: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_throttle_reconciles_total",
			Help: "Reconcile runs, by result (ok, failed, unsupported).",
		}, []string{"result"}),
	}
	// Zero from the start, so a dashboard shows "none yet" rather than no data.
	for _, kind := range []string{"orphan", "foreign", "missing", "limit"} {
		m.diffs.WithLabelValues(kind)
	}
	for _, result := range []string{"ok", "failed", "unsupported"} {
		m.reconcile.WithLabelValues(result)
	}
	if reg != nil {
		reg.MustRegister(m.trigger, m.success, m.failure, m.execution, m.mttr, m.active, m.queued, m.automated, m.diffs, m.reconcile)
	}
	return m
}
