package evaluator

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// stalled is the manager's evaluation with a query that waits for a gate,
// as a query over 100k series takes its time.
type stalled struct {
	*Manager
	entered chan struct{}
	gate    chan struct{}
}

func (s stalled) query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	s.entered <- struct{}{}
	<-s.gate
	return s.Manager.query(ctx, expr, ts)
}

// /metrics, /api/v1/alerts and /api/v1/rules read the last evaluation's
// alerts and status while the next one runs, instead of waiting for it.
func TestReadersDoNotWaitForAnEvaluation(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: High
        expr: x > 1
`)
	h.add(at(0), map[string]float64{`x{i="1"}`: 5})
	h.eval(at(0))
	g := h.m.Groups()[0]
	s := stalled{h.m, make(chan struct{}), make(chan struct{})}
	done := make(chan struct{})
	go func() { g.Eval(context.Background(), at(1), s); close(done) }()
	<-s.entered
	read := make(chan int)
	go func() { read <- len(g.ActiveAlerts()) + len(g.Status().Rules[0].Alerts) }()
	select {
	case n := <-read:
		if n != 2 {
			t.Errorf("read %d alerts, want the last evaluation's one twice", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("readers wait for the evaluation in progress")
	}
	close(s.gate)
	<-done
	if st := g.Status(); !st.LastEval.Equal(at(1)) {
		t.Errorf("last evaluation %s, want %s", st.LastEval, at(1))
	}
}
