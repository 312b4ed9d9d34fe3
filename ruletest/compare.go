package ruletest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/gatewarden/gatewarden/evaluator"
)

// tolerance is the relative difference below which two values are equal:
// the same computation summed in another order may differ in the last bits.
const tolerance = 1e-9

// alert is what an alert_rule_test compares.
type alert struct{ labels, annotations labels.Labels }

type alertList []alert

// checkAlerts compares the firing alerts of t.Alertname, from every rule of
// that name, with the expected ones as sets.
func (r *runner) checkAlerts(t alertTest) error {
	var exp, got alertList
	for _, e := range t.ExpAlerts {
		// As in promtool, the test names the alert once rather than in
		// every exp_labels.
		ls := labels.NewBuilder(labels.FromMap(e.ExpLabels)).Set(labels.AlertName, t.Alertname).Labels()
		exp = append(exp, alert{ls, labels.FromMap(e.ExpAnnotations)})
	}
	for _, g := range r.groups {
		for _, rv := range g.Status().Rules {
			if rv.Rule.Alert != t.Alertname {
				continue
			}
			for _, a := range rv.Alerts {
				// A pending alert has not been sent anywhere yet.
				if a.State == evaluator.StateFiring {
					got = append(got, alert{a.Labels, a.Annotations})
				}
			}
		}
	}
	exp.sort()
	got.sort()
	if slices.EqualFunc(exp, got, func(a, b alert) bool {
		return labels.Equal(a.labels, b.labels) && labels.Equal(a.annotations, b.annotations)
	}) {
		return nil
	}
	const in = "            "
	return fmt.Errorf("    alertname: %s, time: %s, \n        exp:%s, \n        got:%s", t.Alertname, t.EvalTime, indent(exp.String(), in), indent(got.String(), in))
}

func (as alertList) sort() {
	slices.SortFunc(as, func(a, b alert) int {
		return cmp.Or(labels.Compare(a.labels, b.labels), labels.Compare(a.annotations, b.annotations))
	})
}

func (as alertList) String() string {
	if len(as) == 0 {
		return "[]"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%d:\n  Labels:%s\n  Annotations:%s", i, a.labels, a.annotations)
	}
	return "[\n" + strings.Join(parts, ",\n") + "\n]"
}

// indent prefixes every line but the first, which continues a line already
// begun.
func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

// checkPromQL evaluates a promql_expr_test over the input and whatever the
// rules wrote, and compares the samples as sets.
func (r *runner) checkPromQL(ctx context.Context, engine *promql.Engine, pt promqlTest) error {
	got, err := r.query(ctx, engine, pt.Expr, r.start.Add(time.Duration(pt.EvalTime)))
	if err != nil {
		return fmt.Errorf("    expr: %q, time: %s, err: %s", pt.Expr, pt.EvalTime, err)
	}
	exp := slices.Clone(pt.exp)
	for _, ss := range [][]sample{exp, got} {
		slices.SortFunc(ss, func(a, b sample) int { return labels.Compare(a.labels, b.labels) })
	}
	if slices.EqualFunc(exp, got, sample.equal) {
		return nil
	}
	return fmt.Errorf("    expr: %q, time: %s,\n        exp: %s\n        got: %s", pt.Expr, pt.EvalTime, samplesString(exp), samplesString(got))
}

// query is an instant query whose scalar result counts as one sample
// without labels, as in promtool, and as the evaluator runs it.
func (r *runner) query(ctx context.Context, engine *promql.Engine, expr string, ts time.Time) ([]sample, error) {
	v, err := evaluator.InstantQuery(ctx, engine, r.db, expr, ts)
	if err != nil {
		return nil, err
	}
	out := make([]sample, len(v))
	for i, s := range v {
		out[i] = sample{s.Metric, s.F, s.H}
	}
	return out, nil
}

func (s sample) equal(o sample) bool {
	switch {
	case !labels.Equal(s.labels, o.labels) || (s.h == nil) != (o.h == nil):
		return false
	case s.h != nil:
		return s.h.Equals(o.h)
	case math.IsNaN(s.f) || math.IsNaN(o.f):
		return math.IsNaN(s.f) && math.IsNaN(o.f)
	case math.IsInf(s.f, 0) || math.IsInf(o.f, 0):
		return s.f == o.f // an infinite difference is within any relative tolerance
	}
	return s.f == o.f || math.Abs(s.f-o.f) <= tolerance*max(math.Abs(s.f), math.Abs(o.f))
}

func (s sample) String() string {
	if s.h != nil {
		return s.labels.String() + " " + s.h.TestExpression()
	}
	return s.labels.String() + " " + strconv.FormatFloat(s.f, 'E', -1, 64)
}

func samplesString(ss []sample) string {
	if len(ss) == 0 {
		return "nil"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}
