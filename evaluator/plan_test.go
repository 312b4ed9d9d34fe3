package evaluator

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/prometheus/storage"
)

// countingQueryable counts the queries that reach the store: the engine
// opens one querier per query.
type countingQueryable struct {
	storage.Queryable
	n *atomic.Int64
}

func (q countingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q.n.Add(1)
	return q.Queryable.Querier(mint, maxt)
}

// TestPlainRulesShareTheirVector: 200 Prometheus rules in two groups, the
// threshold in each expression, over one vector cost one query a cycle,
// and fire as their thresholds say.
func TestPlainRulesShareTheirVector(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n")
	for g := range 2 {
		fmt.Fprintf(&b, "  - name: g%d\n    rules:\n", g)
		for k := range 100 {
			expr := fmt.Sprintf("sum by (i) (x) > %d", k)
			if k%2 == 1 {
				expr = fmt.Sprintf("%d < (sum by (i) (x))", k)
			}
			fmt.Fprintf(&b, "      - alert: R%d_%d\n        expr: %s\n", g, k, expr)
		}
	}
	h := newHarness(t, b.String())
	var n atomic.Int64
	h.queryable = countingQueryable{h.db, &n}
	h.m = h.manager()
	h.add(at(0), map[string]float64{`x{i="a"}`: 42.5, `x{i="b"}`: 7})
	sent := h.eval(at(0))
	if got := n.Load(); got != 1 {
		t.Errorf("%d queries for 200 rules over one vector, want 1", got)
	}
	// a is over 0..42 (43 thresholds), b over 0..6 (7), in each group.
	if len(sent) != 2*(43+7) {
		t.Errorf("%d alerts fired, want %d", len(sent), 2*(43+7))
	}
}
