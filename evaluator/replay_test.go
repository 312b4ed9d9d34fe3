package evaluator

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestReplayEvaluatesAsTheLoops: replayed every 10 s, a 10 s group
// evaluates every time and a 1m group every half minute, as their loops
// do when every scrape brings their metrics.
func TestReplayEvaluatesAsTheLoops(t *testing.T) {
	h := newHarness(t, `groups:
  - name: fast
    rules: [{record: a, expr: vector(1)}]
  - name: slow
    interval: 1m
    rules: [{record: b, expr: vector(1)}]
`)
	rp := NewReplay(h.m)
	evaluated := map[string][]time.Duration{}
	for i := range 13 {
		rp.EvalAt(context.Background(), at(i))
		for _, g := range h.m.Groups() {
			if st := g.Status(); st.LastEval.Equal(at(i)) {
				evaluated[st.Name] = append(evaluated[st.Name], at(i).Sub(t0))
			}
		}
	}
	if got := evaluated["fast"]; len(got) != 13 {
		t.Errorf("fast: %v", got)
	}
	if got, want := evaluated["slow"], []time.Duration{0, 30 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute}; !slices.Equal(got, want) {
		t.Errorf("slow: %v, want %v", got, want)
	}
}
