// Package notifier sends alerts to external Alertmanagers as Prometheus's
// notifier does: one bounded queue that drops the oldest alerts when full,
// batches POSTed to every configured Alertmanager at once through the
// Alertmanager API v2, and no retries, because the evaluator re-sends firing
// alerts every resend delay anyway.
package notifier

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Alert is one alert event as Alertmanager's API v2 takes it. The JSON tags
// are that API's, so a batch is marshalled as is.
type Alert struct {
	Labels      labels.Labels `json:"labels"`
	Annotations labels.Labels `json:"annotations"`
	// A zero StartsAt or EndsAt is left out: Alertmanager then fills in its
	// own (now, and now + resolve_timeout).
	StartsAt     time.Time `json:"startsAt,omitzero"`
	EndsAt       time.Time `json:"endsAt,omitzero"`
	GeneratorURL string    `json:"generatorURL,omitempty"`
}

// Resolved reports whether the alert had ended by now. now is a parameter
// so that callers with an injected clock stay deterministic.
func (a *Alert) Resolved(now time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(now)
}

// withExternalLabels adds ext to every alert, the alert's own label winning
// on a conflict, as in Prometheus (where an empty value is no label). Alerts
// are copied rather than changed: the caller may still hold them.
func withExternalLabels(ext labels.Labels, alerts []*Alert) []*Alert {
	if ext.IsEmpty() {
		return alerts
	}
	out := make([]*Alert, len(alerts))
	b := labels.NewBuilder(labels.EmptyLabels())
	for i, a := range alerts {
		b.Reset(a.Labels)
		ext.Range(func(l labels.Label) {
			if a.Labels.Get(l.Name) == "" {
				b.Set(l.Name, l.Value)
			}
		})
		c := *a
		c.Labels = b.Labels()
		out[i] = &c
	}
	return out
}
