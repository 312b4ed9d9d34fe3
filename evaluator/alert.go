// Package evaluator runs rule groups over the local store: PromQL, then the
// window conditions, levels, observation window, recovery, nodata and
// stepped thresholds of gatewarden's rules, then Prometheus's alert state
// machine. Alerts it fires or resolves go to whoever listens.
package evaluator

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
)

// State is an alert's place in Prometheus's state machine.
type State int

// The states, as Prometheus names them.
const (
	StateInactive State = iota
	StatePending
	StateFiring
)

func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	}
	return "inactive"
}

// Alert is one alert of one rule for one target. Its identity is the rule
// and its labels, as in Prometheus and Alertmanager.
type Alert struct {
	State       State
	Labels      labels.Labels
	Annotations labels.Labels
	Value       float64
	Severity    rules.Severity // 0 when the rule has no levels

	ActiveAt   time.Time // when the condition first held
	FiredAt    time.Time
	ResolvedAt time.Time
	LastSentAt time.Time
	// ValidUntil is when a receiver may consider a firing alert resolved
	// if no re-send arrives: the EndsAt Prometheus sends.
	ValidUntil      time.Time
	KeepFiringSince time.Time // when the condition stopped holding while firing
	// Steps are the thresholds this alert announces (stepped rules), and
	// PeriodStart the period it belongs to.
	Steps       []float64
	PeriodStart time.Time
	// Action is the rule's action, for the parts that act on alerts.
	Action string
	// GeneratorURL links the alert to its rule's expression in the
	// external URL's /graph view, as Prometheus links its alerts.
	GeneratorURL string
	// Threshold is what Value was last judged against at the alert's
	// level (NaN without a condition), Window the condition's window and
	// Metric what the rule reads: with Value, the metadata ez-api's
	// detector writes.
	Threshold float64
	Window    string
	Metric    string

	renderedAs rules.Severity // the severity Labels were rendered for
	written    writtenSeries  // its ALERTS series as last written
}

// Resolved reports whether the alert has ended.
func (a *Alert) Resolved() bool { return !a.ResolvedAt.IsZero() }
