package evaluator

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/strutil"

	"github.com/gatewarden/gatewarden/rules"
)

const (
	// resolvedRetention is how long a resolved alert is remembered so its
	// resolution can be re-sent, as Prometheus keeps it.
	resolvedRetention = 15 * time.Minute
	// forgetAfter drops targets gone this long: longer than PromQL's
	// lookback, so a series in a scrape gap keeps its window.
	forgetAfter = 10 * time.Minute
	// forgetNoDataAfter bounds how long a vanished series is watched for
	// nodata: a master deleted from the gateway stops alerting in a day.
	forgetNoDataAfter = 24 * time.Hour
	maxWindowPoints   = 512
)

// env is what a rule evaluation needs from its group and manager.
type env struct {
	interval       time.Duration
	thresholds     Thresholds
	externalLabels map[string]string
	externalURL    string
	url            *url.URL
	groupLabels    map[string]string
	query          func(ctx context.Context, q string, ts time.Time) (promql.Vector, error)
	expandAlways   bool
	steps          StepLedger
}

// alertingRule is an alerting rule and the targets its expression returns.
type alertingRule struct {
	rule *rules.Rule
	id   string // ruleID: the rule's name in the step ledger
	// records are the step ledger's records not yet taken by their
	// targets; nil until read.
	records map[uint64]StepRecord
	targets map[uint64]*target
	levels  []rules.Level // most severe first
	keep    int           // window points kept per target
	// memory is how long a vanished target is remembered: its window and
	// step accounting, and how long its nodata alert may fire.
	memory time.Duration
	// facts describe the rule in its alerts' metadata: the expression's,
	// with the condition's window where it has one.
	facts rules.Facts
}

func newAlertingRule(r *rules.Rule, interval time.Duration) *alertingRule {
	ar := &alertingRule{rule: r, targets: map[uint64]*target{}, levels: r.EffectiveLevels(), keep: 1, memory: forgetAfter,
		facts: rules.FactsOf(r.Expr)}
	if r.Condition != nil {
		ar.facts.Window = r.Condition.Window.String()
	}
	for _, c := range []*rules.Condition{r.Condition, r.Recover} {
		if c != nil {
			ar.keep = max(ar.keep, int(c.Lookback().Span(interval)/interval)+1)
		}
	}
	ar.keep = min(ar.keep, maxWindowPoints)
	if c := r.Condition; c != nil && c.Func == rules.FuncNoData {
		ar.memory = max(ar.memory, rules.NoDataMemory*c.Window.Span(interval))
	}
	if r.NoData != nil || len(r.Steps) > 0 {
		ar.memory = forgetNoDataAfter
	}
	return ar
}

// eval judges every target at ts. It returns the alerts receivers must be
// told about now: new, resolved, changed in level, or due for a resend.
// An error (a step ledger that cannot be written) leaves the targets it
// concerns as they were, to be judged again next time.
func (ar *alertingRule) eval(ctx context.Context, ts time.Time, vec promql.Vector, e *env, resend time.Duration) ([]*Alert, error) {
	r, now := ar.rule, ts.UnixMilli()
	var (
		buf   []byte
		send  []*Alert
		fails error
	)
	if len(r.Steps) > 0 {
		if err := ar.loadSteps(ctx, e.steps); err != nil {
			return nil, err
		}
	}
	for _, s := range vec {
		var fp uint64
		// The period label is not part of a target's identity: a new
		// period is the same master's budget starting over.
		fp, buf = s.Metric.HashWithoutLabels(buf, labels.MetricName, r.PeriodLabel)
		t := ar.targets[fp]
		if t == nil {
			t = &target{Labels: s.Metric.DropMetricName()}
			ar.targets[fp] = t
		} else if r.PeriodLabel != "" {
			t.Labels = s.Metric.DropMetricName()
		}
		t.LastSeen, t.Value = ts, s.F
		if t.NoData != nil && !t.NoData.Resolved() {
			t.NoData.State, t.NoData.ResolvedAt = StateInactive, ts
		}
		if len(r.Steps) > 0 {
			if err := ar.steps(ctx, t, fp, ts, e); err != nil {
				fails = err
			}
			continue
		}
		if r.Condition != nil {
			t.record(rules.Point{T: now, V: s.F}, ar.keep, e.interval)
		}
		v := judge(r, ar.levels, t, now, e.interval, e.thresholds)
		if r.Condition == nil {
			v.threshold = ar.facts.Threshold
		}
		recovered := true
		if v.judged && !v.hit && t.Alert != nil && t.Alert.State == StateFiring {
			recovered = recoveredBy(r, t, now, e.interval, e.thresholds)
		}
		for _, a := range advance(r, t, v, recovered, ts) {
			if a != t.Alert && due(a, ts, resend) {
				send = append(send, a) // a level left behind: its resolution
			}
		}
		if a := t.Alert; a != nil && !a.Resolved() {
			a.Value = s.F // $value follows the series while it is active, as in Prometheus
		}
	}
	for fp, t := range ar.targets {
		if !t.LastSeen.Equal(ts) {
			// Gone from the output: the condition no longer holds, as in
			// Prometheus, unless the condition is nodata itself, for a
			// series seen within its memory.
			gone := ts.Sub(t.LastSeen)
			v := verdict{judged: true}
			if c := r.Condition; c != nil && c.Func == rules.FuncNoData && gone < rules.NoDataMemory*c.Window.Span(e.interval) {
				v = judge(r, ar.levels, t, now, e.interval, e.thresholds)
				// Gone for less than the window (after a restart, LastSeen
				// is the restart): not yet known absent.
				if gone < c.Window.Span(e.interval) && v.hit {
					v = verdict{}
				}
			}
			advance(r, t, v, true, ts)
			if gone <= ar.memory {
				ar.noData(t, ts)
			} else {
				t.resolveAll(ts) // gone for good: its nodata and steps end
			}
			if !t.active() && gone > ar.memory {
				delete(ar.targets, fp)
				continue
			}
		}
		send = ar.collect(ctx, t, ts, e, resend, send)
	}
	return send, fails
}

// collect refreshes the labels and annotations of a target's alerts and
// gathers those due to be sent, dropping resolved ones past retention.
func (ar *alertingRule) collect(ctx context.Context, t *target, ts time.Time, e *env, resend time.Duration, send []*Alert) []*Alert {
	consider := func(a *Alert, extra ...labels.Label) *Alert {
		if a == nil {
			return nil
		}
		if a.Resolved() && ts.Sub(a.ResolvedAt) > resolvedRetention {
			return nil
		}
		isDue := due(a, ts, resend)
		// Templates cost more than the rest of an evaluation: expand them
		// when an alert is new, changes level or is about to be sent.
		if a.Labels.IsEmpty() || !a.Resolved() && (e.expandAlways || isDue || a.renderedAs != a.Severity) {
			ar.render(ctx, t, a, ts, e, extra...)
		}
		if isDue {
			// Four missed re-sends before receivers time the alert out, as
			// Prometheus sets EndsAt.
			a.LastSentAt, a.ValidUntil = ts, ts.Add(4*max(e.interval, resend))
			a.GeneratorURL = e.externalURL + strutil.TableLinkForExpression(ar.rule.Expr)
			send = append(send, a)
		}
		return a
	}
	t.Alert = consider(t.Alert)
	t.NoData = consider(t.NoData, labels.Label{Name: "nodata", Value: "true"})
	kept := t.StepAlerts[:0]
	for _, a := range t.StepAlerts {
		if a = consider(a, ar.stepLabels(a)...); a != nil {
			kept = append(kept, a)
		}
	}
	t.StepAlerts = kept
	return send
}

// due is Prometheus's needsSending: a resolution not yet sent, or an alert
// (firing, or resolved within retention) whose last send is older than the
// resend delay.
func due(a *Alert, ts time.Time, resend time.Duration) bool {
	if a.State == StatePending {
		return false
	}
	if a.Resolved() && a.LastSentAt.Before(a.ResolvedAt) {
		return true // a resolution goes out at once
	}
	return a.LastSentAt.IsZero() || ts.Sub(a.LastSentAt) >= resend
}

// noData fires the per-series nodata alert of a target absent for the
// rule's nodata period.
func (ar *alertingRule) noData(t *target, ts time.Time) {
	nd := ar.rule.NoData
	if nd == nil || (t.NoData != nil && !t.NoData.Resolved()) || ts.Sub(t.LastSeen) < time.Duration(nd.For) {
		return
	}
	sev := rules.Warning
	for _, s := range []rules.Severity{rules.Critical, rules.Warning, rules.Info} {
		if s.String() == nd.SeverityLabel() {
			sev = s
		}
	}
	t.NoData = &Alert{State: StateFiring, ActiveAt: t.LastSeen, FiredAt: ts, Severity: sev, Value: math.NaN(),
		Threshold: math.NaN(), Window: model.Duration(nd.For).String()}
}

// render sets an alert's labels and annotations from the rule's templates,
// with the target's labels and value, as Prometheus expands them.
func (ar *alertingRule) render(ctx context.Context, t *target, a *Alert, ts time.Time, e *env, extra ...labels.Label) {
	r := ar.rule
	data := rules.TemplateData{
		Labels: t.Labels.Map(), ExternalLabels: e.externalLabels, ExternalURL: e.externalURL,
		Value: a.Value, Time: ts, Query: e.query, URL: e.url,
	}
	lb := labels.NewBuilder(t.Labels)
	for k, v := range e.groupLabels {
		lb.Set(k, v)
	}
	for k, v := range r.Labels {
		lb.Set(k, expand(ctx, r.Alert, v, data))
	}
	lb.Set(labels.AlertName, r.Alert)
	if a.Severity != 0 {
		lb.Set("severity", a.Severity.String())
	}
	for _, l := range extra {
		lb.Set(l.Name, l.Value)
	}
	a.Labels = lb.Labels()
	ab := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range r.Annotations {
		ab.Set(k, expand(ctx, r.Alert, v, data))
	}
	if len(a.Steps) > 1 {
		ab.Set("steps_crossed", joinSteps(a.Steps[1:]))
	}
	a.Annotations = ab.Labels()
	a.renderedAs = a.Severity
	if a.Metric == "" {
		a.Metric = ar.facts.Metric
	}
	if a.Window == "" {
		a.Window = ar.facts.Window
	}
}

func expand(ctx context.Context, name, text string, d rules.TemplateData) string {
	out, err := rules.Expand(ctx, name, text, d)
	if err != nil {
		return fmt.Sprintf("<error expanding template: %v>", err)
	}
	return out
}

func formatStep(s float64) string { return strconv.FormatFloat(s, 'g', -1, 64) }

func joinSteps(ss []float64) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = formatStep(s)
	}
	return strings.Join(parts, ",")
}
