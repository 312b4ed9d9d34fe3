package promapi

import (
	"fmt"
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
		RuleGroups     []ruleGroup `json:"groups"`
		GroupNextToken string      `json:"groupNextToken,omitempty"`
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
	f, aerr := a.parseRuleFilter(r)
	if aerr != nil {
		return failure(aerr)
	}
	var groups []*evaluator.Group
	if a.rules != nil {
		groups = a.rules.Groups()
	}
	out := ruleDiscovery{RuleGroups: []ruleGroup{}}
	found := f.nextToken == ""
	for _, g := range groups {
		if !found {
			// A page starts at the group its token names.
			if found = groupToken(g.Key()) == f.nextToken; !found {
				continue
			}
		}
		if !f.group(g) {
			continue
		}
		st := g.Status() // a copy of every alert: only for groups listed
		rg := ruleGroup{Name: st.Name, File: st.File, Rules: []any{}, Interval: st.Interval.Seconds(), Limit: st.Limit, EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval}
		for _, v := range st.Rules {
			if !f.rule(v) {
				continue
			}
			rg.Rules = append(rg.Rules, ruleJSON(v, !f.excludeAlerts))
		}
		// As Prometheus: a group whose rules were all filtered out is left out.
		if len(rg.Rules) == 0 {
			continue
		}
		if f.groupLimit > 0 && len(out.RuleGroups) == f.groupLimit {
			out.GroupNextToken = groupToken(g.Key())
			break
		}
		out.RuleGroups = append(out.RuleGroups, rg)
	}
	if !found {
		return failure(paramError(fmt.Errorf("invalid group_next_token '%v'. were rule groups changed?", f.nextToken), "group_next_token"))
	}
	return success(out)
}

// ruleJSON shows one rule; withAlerts false leaves its alerts out (the
// state still says whether any fires), as exclude_alerts asks.
func ruleJSON(v evaluator.RuleView, withAlerts bool) any {
	r, st := v.Rule, v.Status
	if !r.IsAlert() {
		return recordingRule{Name: r.Record, Query: r.Expr, Labels: labels.FromMap(r.Labels), Health: st.Health, LastError: st.LastError,
			EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval, Type: "recording"}
	}
	ar := alertingRule{
		State: "inactive", Name: r.Alert, Query: r.Expr, Duration: time.Duration(r.For).Seconds(), KeepFiringFor: time.Duration(r.KeepFiringFor).Seconds(),
		Labels: labels.FromMap(r.Labels), Annotations: labels.FromMap(r.Annotations),
		Health: st.Health, LastError: st.LastError, EvaluationTime: st.Took.Seconds(), LastEvaluation: st.LastEval, Type: "alerting",
	}
	for _, al := range v.Alerts {
		if s := al.State.String(); s == "firing" || ar.State == "inactive" {
			ar.State = s
		}
	}
	if withAlerts {
		ar.Alerts = alertsJSON(v.Alerts)
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
