package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// PromQL compiles "c over expr against threshold" into one PromQL
// expression that a central Prometheus can evaluate every interval,
// returning the series for which the condition holds (the value may be the
// aggregated one). An error names a combination that has no faithful
// PromQL equivalent.
//
// The result agrees with the evaluator (Judge over the points of the
// evaluations every interval, kept for Window.Span) when the evaluator runs
// at multiples of interval: subqueries align their steps to multiples of
// their step since the epoch, so both see the same points. Prometheus may
// evaluate the rule at any time: every part of a form reads the aligned
// steps only, so it gives the verdict of the latest multiple. The
// evaluator judges the series in expr's output at each evaluation, so
// every form requires the series at the latest step, except nodata.
//
// The forms, with W the window's span, i the interval and t the
// threshold; "x op t" stands for "abs(x - t) <= 0.0001" with == and for
// "abs(x - t) > 0.0001" with != (and for "x == t" with == and an infinite
// t, whose difference with an infinite x is NaN):
//
//	all #N          count_over_time((expr op t)[W:i]) >= N
//	all d           min_over_time((expr op bool t)[W:i]) == 1 and G
//	happen          count_over_time((expr op t)[W:i]) >= count and G
//	max min avg sum <fn>_over_time((expr)[W:i]) op t and G
//	diff            max_over_time((L - expr op t)[W-i:i] offset i) and G'
//	pdiff           the same with (L - expr) / (expr != 0) * 100
//	nodata          last_over_time((expr)[3W:i] offset W) unless present_over_time((expr)[W:i])
//
// (3W: a series is remembered for NoDataMemory spans.) G is
// "count_over_time((expr)[W:i]) == N" for #N (too few points: not judged;
// happen with count >= N implies it) and "present_over_time((expr)[i:i])"
// for a duration (present at the latest step); G' only the former, as L
// implies the latter. L is last_over_time((expr)[i:i] @ end()): the latest
// value inside a subquery, so that diff and pdiff compare it with each
// earlier point, as Judge does, since pdiff, == and != are not monotonic
// in the earlier point; with < and <= the aggregate is min_over_time.
//
// Hit counts and truth values stand where min_over_time or max_over_time
// of expr might seem to do, because those skip NaN points, which hold for
// no operator. The values returned: hit counts (all #N, happen), 1 (all d),
// the aggregate or its distance to t (max min avg sum), the most extreme
// change that holds or its distance to t (diff, pdiff), the last value
// seen (nodata).
//
// The @ modifier needs Prometheus 2.33 or later (2.25 with
// --enable-feature=promql-at-modifier).
//
// PromQL refuses: diff and pdiff over a window of one evaluation (#1, or a
// duration not longer than the interval), which has no earlier point and
// never holds; an expr that is not an instant vector, or that uses
// @ start() or @ end(), whose meaning changes inside a subquery; an interval
// that is not a positive whole number of milliseconds; a window that is not
// exactly one of #N and a duration; unknown functions and operators.
func (c Condition) PromQL(expr string, threshold float64, interval time.Duration) (string, error) {
	if interval <= 0 || interval%time.Millisecond != 0 {
		return "", fmt.Errorf("interval %v: must be a positive whole number of milliseconds", interval)
	}
	if (c.Window.Points > 0) == (c.Window.Duration > 0) {
		return "", errors.New("window: set either #N points or a duration")
	}
	if c.Func != FuncNoData && !ops[c.Op] {
		return "", fmt.Errorf("unknown operator %q", c.Op)
	}
	e, err := exportableExpr(expr)
	if err != nil {
		return "", err
	}
	x := promqlForm{c: c, e: e, t: threshold, i: interval, w: c.Lookback()}
	x.span = x.w.Span(interval)
	switch c.Func {
	case FuncAll:
		if c.Window.Points > 0 {
			return x.hits(c.Window.Points), nil
		}
		return fmt.Sprintf("min_over_time(%s) == 1", x.subquery(x.compare(e, true), x.span, 0)) + x.guard(), nil
	case FuncHappen:
		s := x.hits(c.happenCount())
		if c.happenCount() < c.Window.Points || c.Window.Duration > 0 {
			s += x.guard()
		}
		return s, nil
	case FuncMax, FuncMin, FuncAvg, FuncSum:
		agg := fmt.Sprintf("%s_over_time(%s)", c.Func, x.subquery(e, x.span, 0))
		return x.compare(agg, false) + x.guard(), nil
	case FuncDiff, FuncPDiff:
		return x.change()
	case FuncNoData:
		return fmt.Sprintf("last_over_time(%s) unless present_over_time(%s)",
			x.subquery(e, (NoDataMemory-1)*x.span, x.span), x.subquery(e, x.span, 0)), nil
	}
	return "", fmt.Errorf("unknown window function %q", c.Func)
}

// exportableExpr parses expr and returns it parenthesised, ready to be
// embedded. It is printed from its syntax tree, not copied, so that a
// trailing # comment cannot swallow what follows.
func exportableExpr(expr string) (string, error) {
	n, err := ParseExpr(expr)
	if err != nil {
		return "", err
	}
	if n.Type() != parser.ValueTypeVector {
		return "", fmt.Errorf("expression must return an instant vector, not a %s", n.Type())
	}
	var moving error
	parser.Inspect(n, func(node parser.Node, _ []parser.Node) error {
		var se parser.ItemType
		switch n := node.(type) {
		case *parser.VectorSelector:
			se = n.StartOrEnd
		case *parser.SubqueryExpr:
			se = n.StartOrEnd
		}
		if se == parser.START || se == parser.END {
			// Inside a subquery they would name the rule's evaluation
			// time, not each step's.
			moving = errors.New("expression uses @ start() or @ end(), which mean another time inside the exported subqueries")
		}
		return moving
	})
	if moving != nil {
		return "", moving
	}
	return "(" + n.String() + ")", nil
}

// promqlForm holds what every form of one condition needs.
type promqlForm struct {
	c    Condition
	e    string // the parenthesised expression
	t    float64
	i    time.Duration
	w    Window // c.Lookback()
	span time.Duration
}

// compare writes "x op t". With boolean, a non-matching point becomes 0
// instead of disappearing, so that an aggregate over time sees it.
func (x promqlForm) compare(v string, boolean bool) string {
	b := ""
	if boolean {
		b = "bool "
	}
	t := strconv.FormatFloat(x.t, 'g', -1, 64)
	tol := strconv.FormatFloat(Tolerance, 'g', -1, 64)
	switch {
	case x.c.Op == "==" && math.IsInf(x.t, 0):
		return fmt.Sprintf("%s == %s%s", v, b, t)
	case x.c.Op == "==":
		return fmt.Sprintf("abs(%s - %s) <= %s%s", v, t, b, tol)
	case x.c.Op == "!=":
		return fmt.Sprintf("abs(%s - %s) > %s%s", v, t, b, tol)
	}
	return fmt.Sprintf("%s %s %s%s", v, x.c.Op, b, t)
}

// subquery evaluates inner at every multiple of the interval in
// (now-offset-rng, now-offset].
func (x promqlForm) subquery(inner string, rng, offset time.Duration) string {
	if inner != x.e { // which is parenthesised already
		inner = "(" + inner + ")"
	}
	s := fmt.Sprintf("%s[%s:%s]", inner, model.Duration(rng), model.Duration(x.i))
	if offset > 0 {
		s += " offset " + model.Duration(offset).String()
	}
	return s
}

// hits holds when at least n points of the window hold.
func (x promqlForm) hits(n int) string {
	return fmt.Sprintf("count_over_time(%s) >= %d", x.subquery(x.compare(x.e, false), x.span, 0), n)
}

// guard is what Judge requires besides the comparison: the N points of a
// #N window, or, for a duration, that the series is in the output at the
// latest step. Forms that imply it go without.
//
// The latest step, not now: Prometheus evaluates a rule group at a fixed
// offset within its interval, and every part of a form must see the same
// aligned evaluations.
func (x promqlForm) guard() string {
	if x.w.Points > 0 {
		return fmt.Sprintf(" and count_over_time(%s) == %d", x.subquery(x.e, x.span, 0), x.w.Points)
	}
	return fmt.Sprintf(" and present_over_time(%s)", x.subquery(x.e, x.i, 0))
}

// change is diff and pdiff: some earlier point of the window, compared
// with the latest, holds.
func (x promqlForm) change() (string, error) {
	earlier := x.span - x.i
	if earlier <= 0 {
		return "", fmt.Errorf("%s over %s at a %s interval: the window holds one evaluation, with no earlier point to compare with",
			x.c.Func, x.c.Window, model.Duration(x.i))
	}
	latest := fmt.Sprintf("last_over_time(%s @ end())", x.subquery(x.e, x.i, 0))
	v := fmt.Sprintf("%s - %s", latest, x.e)
	if x.c.Func == FuncPDiff {
		// Earlier zeros are dropped by the filter, as Judge skips them.
		v = fmt.Sprintf("(%s) / (%s != 0) * 100", v, x.e)
	}
	agg := "max_over_time"
	if x.c.Op == "<" || x.c.Op == "<=" {
		agg = "min_over_time"
	}
	// The latest point is at now: an offset of one interval leaves the
	// earlier ones.
	s := fmt.Sprintf("%s(%s)", agg, x.subquery(x.compare(v, false), earlier, x.i))
	if x.w.Points > 0 {
		// The latest value requires the series now, so a duration needs no
		// guard.
		s += x.guard()
	}
	return s, nil
}

// Facts are what an expression says of itself, for an alert's metadata:
// the metric it reads (the first metric name among its selectors), the
// number its outermost comparison holds it against (NaN if none: `x >
// 0.05` says 0.05), and its longest range (`rate(x[5m])` says 5m).
type Facts struct {
	Metric    string
	Threshold float64
	Window    string
}

// FactsOf reads an expression's Facts; the zero Facts (NaN threshold) for
// one that does not parse.
func FactsOf(expr string) Facts {
	f := Facts{Threshold: math.NaN()}
	n, err := ParseExpr(expr)
	if err != nil {
		return f
	}
	var longest time.Duration
	parser.Inspect(n, func(node parser.Node, _ []parser.Node) error {
		switch x := node.(type) {
		case *parser.VectorSelector:
			if f.Metric == "" {
				f.Metric = x.Name
				for _, m := range x.LabelMatchers {
					if f.Metric == "" && m.Name == labels.MetricName && m.Type == labels.MatchEqual {
						f.Metric = m.Value
					}
				}
			}
		case *parser.MatrixSelector:
			longest = max(longest, x.Range)
		case *parser.SubqueryExpr:
			longest = max(longest, x.Range)
		}
		return nil
	})
	if longest > 0 {
		f.Window = model.Duration(longest).String()
	}
	for {
		p, ok := n.(*parser.ParenExpr)
		if !ok {
			break
		}
		n = p.Expr
	}
	if b, ok := n.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
		if v, ok := b.RHS.(*parser.NumberLiteral); ok {
			f.Threshold = v.Val
		} else if v, ok := b.LHS.(*parser.NumberLiteral); ok {
			f.Threshold = v.Val
		}
	}
	return f
}
