package evaluator

import (
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/rules"
)

// plan is how a rule's expression is evaluated. Users bring Prometheus
// rule files, where the threshold is part of the expression: a thousand
// rules `X > 1`, `X > 2`, … over a few X. A plan queries X, which the
// query cache shares among every rule and group at the timestamp, and
// applies the comparison itself, as Prometheus's engine would: the cost
// is a few queries a cycle instead of a thousand.
type plan struct {
	expr string // what is queried
	cmp  *scalarComparison
}

// scalarComparison is `X op value` (or `value op X`, swap) without bool.
type scalarComparison struct {
	op    parser.ItemType
	value float64
	swap  bool
}

// planOf splits a vector compared with a number literal; any other
// expression is queried whole.
func planOf(r *rules.Rule) plan {
	whole := plan{expr: r.Expr}
	e, err := rules.ParseExpr(r.Expr)
	if err != nil {
		return whole
	}
	b, ok := unparen(e).(*parser.BinaryExpr)
	if !ok || !b.Op.IsComparisonOperator() || b.ReturnBool {
		return whole
	}
	if n, ok := unparen(b.RHS).(*parser.NumberLiteral); ok && b.LHS.Type() == parser.ValueTypeVector {
		return plan{expr: unparen(b.LHS).String(), cmp: &scalarComparison{op: b.Op, value: n.Val}}
	}
	if n, ok := unparen(b.LHS).(*parser.NumberLiteral); ok && b.RHS.Type() == parser.ValueTypeVector {
		return plan{expr: unparen(b.RHS).String(), cmp: &scalarComparison{op: b.Op, value: n.Val, swap: true}}
	}
	return whole
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// apply filters the shared result as Prometheus's vector-scalar
// comparison does: a float sample stays, value and labels (its name too)
// unchanged, when the comparison holds (never for NaN); a histogram
// sample never does. The result is a new vector: v is shared.
func (p plan) apply(v promql.Vector) promql.Vector {
	if p.cmp == nil {
		return v
	}
	var out promql.Vector
	for _, s := range v {
		if s.H == nil && p.cmp.holds(s.F) {
			out = append(out, s)
		}
	}
	return out
}

func (c *scalarComparison) holds(f float64) bool {
	l, r := f, c.value
	if c.swap {
		l, r = r, l
	}
	switch c.op {
	case parser.EQLC:
		return l == r
	case parser.NEQ:
		return l != r
	case parser.GTR:
		return l > r
	case parser.LSS:
		return l < r
	case parser.GTE:
		return l >= r
	case parser.LTE:
		return l <= r
	}
	return false
}
