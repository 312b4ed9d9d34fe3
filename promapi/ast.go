package promapi

import (
	"net/http"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// formatQuery answers /format_query: the query as Prometheus's prettifier
// lays it out, which is what query editors put back into the text box.
func (a *API) formatQuery(r *http.Request) result {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return failure(paramError(err, "query"))
	}
	return success(parser.Prettify(expr))
}

// parseQuery answers /parse_query with the syntax tree in the JSON form of
// Prometheus 3's tree view: one object per node, named by "type".
func (a *API) parseQuery(r *http.Request) result {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return failure(paramError(err, "query"))
	}
	return success(astNode(expr))
}

// node is one tree node; the per-type fields sit beside "type".
type node map[string]any

// astNode converts one expression. Every node type the parser produces
// has a case: an unknown one is a parser upgrade this code must follow,
// and answering a partial tree would hide that.
func astNode(e parser.Expr) any {
	switch n := e.(type) {
	case nil:
		return nil
	case *parser.AggregateExpr:
		return node{"type": "aggregation", "op": n.Op.String(), "expr": astNode(n.Expr), "param": astNode(n.Param),
			"grouping": nonNil(n.Grouping), "without": n.Without}
	case *parser.BinaryExpr:
		return node{"type": "binaryExpr", "op": n.Op.String(), "lhs": astNode(n.LHS), "rhs": astNode(n.RHS),
			"matching": matchingNode(n.VectorMatching), "bool": n.ReturnBool}
	case *parser.Call:
		args := make([]any, 0, len(n.Args))
		for _, arg := range n.Args {
			args = append(args, astNode(arg))
		}
		fn := node{"name": n.Func.Name, "argTypes": n.Func.ArgTypes, "variadic": n.Func.Variadic, "returnType": n.Func.ReturnType}
		return node{"type": "call", "func": fn, "args": args}
	case *parser.MatrixSelector:
		sel := selectorNode(n.VectorSelector.(*parser.VectorSelector))
		sel["type"], sel["range"], sel["rangeExpr"] = "matrixSelector", n.Range.Milliseconds(), durationNode(n.RangeExpr)
		return sel
	case *parser.VectorSelector:
		return selectorNode(n)
	case *parser.SubqueryExpr:
		return node{"type": "subquery", "expr": astNode(n.Expr),
			"range": n.Range.Milliseconds(), "rangeExpr": durationNode(n.RangeExpr),
			"offset": n.OriginalOffset.Milliseconds(), "offsetExpr": durationNode(n.OriginalOffsetExpr),
			"step": n.Step.Milliseconds(), "stepExpr": durationNode(n.StepExpr),
			"timestamp": n.Timestamp, "startOrEnd": atModifier(n.StartOrEnd)}
	case *parser.DurationExpr:
		return durationNode(n)
	case *parser.NumberLiteral:
		return node{"type": "numberLiteral", "val": formatNumber(n.Val)}
	case *parser.ParenExpr:
		return node{"type": "parenExpr", "expr": astNode(n.Expr)}
	case *parser.StringLiteral:
		return node{"type": "stringLiteral", "val": n.Val}
	case *parser.UnaryExpr:
		return node{"type": "unaryExpr", "op": n.Op.String(), "expr": astNode(n.Expr)}
	}
	panic("promapi: unknown PromQL node type")
}

// selectorNode describes a vector selector; a matrix selector is one with
// a range added.
func selectorNode(n *parser.VectorSelector) node {
	ms := make([]node, 0, len(n.LabelMatchers))
	for _, m := range n.LabelMatchers {
		ms = append(ms, matcherNode(m))
	}
	return node{"type": "vectorSelector", "name": n.Name, "matchers": ms,
		"offset": n.OriginalOffset.Milliseconds(), "offsetExpr": durationNode(n.OriginalOffsetExpr),
		"timestamp": n.Timestamp, "startOrEnd": atModifier(n.StartOrEnd),
		"anchored": n.Anchored, "smoothed": n.Smoothed}
}

func matcherNode(m *labels.Matcher) node {
	return node{"name": m.Name, "value": m.Value, "type": m.Type.String()}
}

func matchingNode(m *parser.VectorMatching) any {
	if m == nil {
		return nil
	}
	return node{"card": m.Card.String(), "labels": nonNil(m.MatchingLabels), "on": m.On, "include": nonNil(m.Include),
		"fillValues": map[string]*float64{"lhs": m.FillValues.LHS, "rhs": m.FillValues.RHS}}
}

// durationNode describes a duration written as an expression (rate(x[5m*2]));
// a plain number there also says it was a duration.
func durationNode(e parser.Expr) any {
	switch n := e.(type) {
	case nil:
		return nil
	case *parser.DurationExpr:
		if n == nil {
			return nil
		}
		return node{"type": "durationExpr", "op": n.Op.String(), "lhs": durationNode(n.LHS), "rhs": durationNode(n.RHS), "wrapped": n.Wrapped}
	case *parser.NumberLiteral:
		if n == nil {
			return nil
		}
		return node{"type": "numberLiteral", "val": formatNumber(n.Val), "duration": n.Duration}
	}
	return astNode(e)
}

// atModifier names start() or end() in an @ modifier, null otherwise.
func atModifier(t parser.ItemType) any {
	if t == 0 {
		return nil
	}
	return t.String()
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// nonNil makes an absent list [] rather than null, as clients index it.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
