// Package message is what the receiver hands to a delivery integration: one
// notification about one group of alerts. Its JSON is Alertmanager's webhook
// payload (version "4"), so any consumer of Alertmanager's webhook reads it,
// with gatewarden's fields added beside Alertmanager's.
package message

import (
	"context"
	"math"
	"strconv"

	"github.com/prometheus/alertmanager/template"
)

// Version is the webhook payload version Alertmanager sends.
const Version = "4"

// Kinds of notification. An integration may render a test or a throttle
// notice differently from an alert group.
const (
	KindAlert    = "alert"
	KindTest     = "test"
	KindThrottle = "throttle"
)

// Message is one notification. Data carries Alertmanager's template data
// (receiver, status, alerts, group and common labels, external URL), so
// Alertmanager's own template functions and templates work on it.
type Message struct {
	*template.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`

	// Kind is one of the Kind constants; empty means KindAlert.
	Kind string `json:"kind,omitempty"`
	// Severity is the most severe of the alerts' severity labels
	// (critical, warning, info), empty when none has one.
	Severity string `json:"severity,omitempty"`
	// Language selects the default templates: "en" or "zh".
	Language string `json:"language,omitempty"`
	// AckURL links to the alert in gatewarden where an operator can
	// acknowledge it; empty when gatewarden has no external URL.
	AckURL string `json:"ackURL,omitempty"`
	// Details are what the evaluator knew of its alerts, by fingerprint:
	// templates read `index $.Details .Fingerprint` inside a range over
	// .Alerts.
	Details map[string]Detail `json:"details,omitempty"`
	// ID is the outbox item carrying the message, set when it is sent: the
	// same ID twice is the one repeat a crash allows (at-least-once), so a
	// receiver can drop it. Not part of the stored payload.
	ID int64 `json:"-"`
}

// IsResolved reports whether every alert of the message has resolved.
func (m *Message) IsResolved() bool {
	return m.Data != nil && m.Status == "resolved"
}

// Notifier delivers a message to one destination. retry reports whether a
// failure is temporary (timeouts, rate limits, 5xx) and worth another
// attempt; a permanent failure (a bad signature, a 4xx) is not retried.
type Notifier interface {
	Notify(ctx context.Context, m *Message) (retry bool, err error)
}

// Detail is what ez-api's detector writes in an alert's metadata: the
// metric, the value that fired, the threshold it crossed, the window, the
// level (and the steps of a stepped alert). Value and Threshold are nil
// where there is none (a rule without a condition has no threshold).
type Detail struct {
	Metric    string    `json:"metric,omitempty"`
	Value     *float64  `json:"value,omitempty"`
	Threshold *float64  `json:"threshold,omitempty"`
	Window    string    `json:"window,omitempty"`
	Level     string    `json:"level,omitempty"`
	Steps     []float64 `json:"steps,omitempty"`
}

// Number is v for a Detail field: nil for NaN and infinities, which JSON
// cannot carry.
func Number(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// ValueText and ThresholdText are the numbers as templates show them, ""
// for none.
func (d Detail) ValueText() string     { return numberText(d.Value) }
func (d Detail) ThresholdText() string { return numberText(d.Threshold) }

func numberText(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', 6, 64)
}
