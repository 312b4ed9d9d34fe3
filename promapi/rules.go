package promapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/rules"
)

// RuleSource lists the rule groups shown by /api/v1/rules and /alerts.
type RuleSource interface {
	Groups() []*evaluator.Group
}

// The shapes of Prometheus's /api/v1/rules and /api/v1/alerts.
type (
	ruleDiscovery struct {
		RuleGroups []ruleGroup `json:"groups"`
	}
	ruleGroup struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []any     `json:"rules"`
		Interval       float64   `json:"interval"`
		Limit          int       `json:"limit"`
		EvaluationTime float64   `json:"evaluationTime"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	alertingRule struct {
		State          string          `json:"state"`
		Name           string          `json:"name"`
		Query          string          `json:"query"`
		Duration       float64         `json:"duration"`
		KeepFiringFor  float64         `json:"keepFiringFor"`
		Labels         labels.Labels   `json:"labels"`
		Annotations    labels.Labels   `json:"annotations"`
		Alerts         []alert         `json:"alerts"`
		Health         string          `json:"health"`
		LastError      string          `json:"lastError,omitempty"`
		EvaluationTime float64         `json:"evaluationTime"`
		LastEvaluation time.Time       `json:"lastEvaluation"`
		Type           string          `json:"type"`
		Extensions     *ruleExtensions `json:"gatewarden,omitempty"`
	}
	// ruleExtensions shows gatewarden's threshold settings beside the
	// fields Prometheus clients know; they ignore it.
	ruleExtensions struct {
		Condition *rules.Condition `json:"condition,omitempty"`
		Levels    []rules.Level    `json:"levels,omitempty"`
		Escalate  float64          `json:"escalate,omitempty"`
		Recover   *rules.Condition `json:"recover,omitempty"`
		NoData    *rules.NoData    `json:"nodata,omitempty"`
		Steps     []float64        `json:"steps,omitempty"`
		Action    string           `json:"action,omitempty"`
	}
	recordingRule struct {
		Name           string        `json:"name"`
		Query          string        `json:"query"`
		Labels         labels.Labels `json:"labels"`
		Health         string        `json:"health"`
		LastError      string        `json:"lastError,omitempty"`
		EvaluationTime float64       `json:"evaluationTime"`
		LastEvaluation time.Time     `json:"lastEvaluation"`
		Type           string        `json:"type"`
	}
	alert struct {
		Labels          labels.Labels `json:"labels"`
		Annotations     labels.Labels `json:"annotations"`
		State           string        `json:"state"`
		ActiveAt        *time.Time    `json:"activeAt,omitempty"`
		KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
		Value           string        `json:"value"`
	}
	alertDiscovery struct {
		Alerts []alert `json:"alerts"`
	}
)

func (a *API) ruleList(r *http.Request) result {
	out := ruleDiscovery{RuleGroups: []ruleGroup{}}
	if a.rules == nil {
		return success(out)
	}
	want := r.Form["type"] // "alert" or "record", as Prometheus
	for _, g := range a.rules.Groups() {
		st := g.Status()
		rg := ruleGroup{Name: st.Name, File: st.File, Rules: []any{}, Interval: st.Interval.Seconds(), Limit: st.Limit, EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval}
		for _, v := range st.Rules {
			if len(want) > 0 && want[0] != map[bool]string{true: "alert", false: "record"}[v.Rule.IsAlert()] {
				continue
			}
			rg.Rules = append(rg.Rules, ruleJSON(v))
		}
		out.RuleGroups = append(out.RuleGroups, rg)
	}
	return success(out)
}

func ruleJSON(v evaluator.RuleView) any {
	r, st := v.Rule, v.Status
	if !r.IsAlert() {
		return recordingRule{Name: r.Record, Query: r.Expr, Labels: labels.FromMap(r.Labels), Health: st.Health, LastError: st.LastError,
			EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval, Type: "recording"}
	}
	ar := alertingRule{
		State: "inactive", Name: r.Alert, Query: r.Expr, Duration: time.Duration(r.For).Seconds(), KeepFiringFor: time.Duration(r.KeepFiringFor).Seconds(),
		Labels: labels.FromMap(r.Labels), Annotations: labels.FromMap(r.Annotations), Alerts: alertsJSON(v.Alerts),
		Health: st.Health, LastError: st.LastError, EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval, Type: "alerting",
	}
	for _, al := range v.Alerts {
		if s := al.State.String(); s == "firing" || ar.State == "inactive" {
			ar.State = s
		}
	}
	if r.Condition != nil || len(r.Steps) > 0 || r.NoData != nil || r.Action != "" {
		ar.Extensions = &ruleExtensions{r.Condition, r.Levels, r.Escalate, r.Recover, r.NoData, r.Steps, r.Action}
	}
	return ar
}

func alertsJSON(as []evaluator.Alert) []alert {
	out := make([]alert, 0, len(as))
	for _, a := range as {
		j := alert{Labels: a.Labels, Annotations: a.Annotations, State: a.State.String(), Value: strconv.FormatFloat(a.Value, 'e', -1, 64)}
		if !a.ActiveAt.IsZero() {
			j.ActiveAt = &a.ActiveAt
		}
		if !a.KeepFiringSince.IsZero() {
			j.KeepFiringSince = &a.KeepFiringSince
		}
		out = append(out, j)
	}
	return out
}

func (a *API) alertList(*http.Request) result {
	out := alertDiscovery{Alerts: []alert{}}
	if a.rules == nil {
		return success(out)
	}
	for _, g := range a.rules.Groups() {
		out.Alerts = append(out.Alerts, alertsJSON(g.ActiveAlerts())...)
	}
	return success(out)
}
