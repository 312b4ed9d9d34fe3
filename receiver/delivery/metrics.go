package delivery

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	attempt       *prometheus.HistogramVec
	claimed       prometheus.Gauge
	failing       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_notifications_total",
			Help: "Notification attempts by outcome: sent, retried (failed, will retry), failed (given up or permanent), suppressed (channel disabled).",
		}, []string{"channel", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_notification_latency_seconds",
			Help:    "Time from a notification's enqueueing to its delivery, retries included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"channel"}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_notification_attempt_duration_seconds",
			Help:    "Duration of one delivery attempt to a channel.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
		claimed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_outbox_claimed",
			Help: "Outbox items this worker has claimed and not finished (waiting for their channel or being sent).",
		}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_delivery_channel_failing",
			Help: "1 while a channel's consecutive failed attempts are at or over the failing threshold.",
		}, []string{"channel"}),
	}
	if reg != nil {
		m.notifications = register(reg, m.notifications)
		m.latency = register(reg, m.latency)
		m.attempt = register(reg, m.attempt)
		m.claimed = register(reg, m.claimed)
		m.failing = register(reg, m.failing)
	}
	return m
}

// register adds c, or returns the collector already registered under its
// name, so a worker rebuilt on reload keeps counting into the same series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}
