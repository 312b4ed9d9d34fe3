// Package rules holds gatewarden's rule files: Prometheus's rule format with
// threshold extensions (window conditions, levels, recovery, nodata, stepped
// thresholds, actions), their validation, the window functions, and the
// export to plain Prometheus rules.
package rules

import (
	"os"
	"slices"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Groups is one rule file.
type Groups struct {
	Groups []Group `yaml:"groups"`
}

// Group is evaluated as a unit, its rules in order, every Interval.
type Group struct {
	Name        string             `yaml:"name"`
	Interval    yamlfile.Duration  `yaml:"interval,omitempty"`
	QueryOffset *yamlfile.Duration `yaml:"query_offset,omitempty"`
	Limit       int                `yaml:"limit,omitempty"`
	Labels      map[string]string  `yaml:"labels,omitempty"`
	Rules       []Rule             `yaml:"rules"`

	// File is where the group was loaded from.
	File string `yaml:"-"`
}

// Rule is a Prometheus alerting or recording rule; the fields after
// Annotations extend alerting rules with threshold semantics.
type Rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           yamlfile.Duration `yaml:"for,omitempty"`
	KeepFiringFor yamlfile.Duration `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`

	// Condition judges a window of each output series' values; without it
	// every output series is a hit, as in Prometheus.
	Condition *Condition `yaml:"condition,omitempty"`
	// Levels are thresholds for the condition, each with a severity; the
	// most severe level that holds wins.
	Levels []Level `yaml:"levels,omitempty"`
	// Escalate is shorthand for two levels: warning at the condition's
	// value, critical at Escalate times it.
	Escalate float64 `yaml:"escalate,omitempty"`
	// Recover, when set, must hold for a firing alert to resolve.
	Recover *Condition `yaml:"recover,omitempty"`
	// NoData fires for a series seen before and absent for NoData.For.
	NoData *NoData `yaml:"nodata,omitempty"`
	// Steps are thresholds each announced once per target per period.
	Steps []float64 `yaml:"steps,omitempty"`
	// PeriodLabel names the label whose change starts a new period for
	// Steps; without it a drop of the value does.
	PeriodLabel string `yaml:"period_label,omitempty"`
	// Action names what another part of gatewarden does while the alert
	// fires (throttle).
	Action string `yaml:"action,omitempty"`
}

// Level is one threshold and the severity it stands for.
type Level struct {
	Level Severity `yaml:"level" json:"level"`
	Value float64  `yaml:"value" json:"value"`
}

// NoData configures the per-series nodata alert of a rule.
type NoData struct {
	For      yamlfile.Duration `yaml:"for" json:"for"`
	Severity string            `yaml:"severity,omitempty" json:"severity,omitempty"`
}

// Severity is 1 (critical), 2 (warning) or 3 (info): lower is more severe.
type Severity int

// The severities and the severity label values they carry.
const (
	Critical Severity = 1
	Warning  Severity = 2
	Info     Severity = 3
)

func (s Severity) String() string {
	switch s {
	case Critical:
		return "critical"
	case Warning:
		return "warning"
	case Info:
		return "info"
	case MinLevel:
		return "min"
	}
	return "none"
}

// SortedLevels returns the levels most severe first.
func (r *Rule) SortedLevels() []Level {
	ls := slices.Clone(r.Levels)
	slices.SortFunc(ls, func(a, b Level) int { return int(a.Level - b.Level) })
	return ls
}

// IsAlert tells an alerting rule from a recording one.
func (r *Rule) IsAlert() bool { return r.Alert != "" }

// Name is the alert or record name.
func (r *Rule) Name() string {
	if r.IsAlert() {
		return r.Alert
	}
	return r.Record
}

// ParseFile reads and validates one rule file.
func ParseFile(name string) (*Groups, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(b, name)
}

// Parse decodes and validates rule file content; name labels errors.
func Parse(b []byte, name string) (*Groups, error) {
	var gs Groups
	doc, err := yamlfile.Decode(b, name, &gs)
	if err != nil {
		return nil, err
	}
	for i := range gs.Groups {
		gs.Groups[i].File = name
	}
	if errs := validate(doc, &gs); len(errs) > 0 {
		return nil, errs
	}
	return &gs, nil
}
