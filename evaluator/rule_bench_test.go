package evaluator

import (
	"context"
	"fmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"testing"
	"time"
)

// Perf: one rule, 100k output series, levels, 10% firing with a templated annotation.
func BenchmarkRuleEval100kNoFiring(b *testing.B) {
	h := &harness{}
	_ = h
	r := mustRule(b, `groups:
  - name: g
    rules:
      - alert: A
        expr: x
        condition: {function: all, window: "#3", op: ">", value: 0.8}
        levels: [{level: 2, value: 0.8}, {level: 1, value: 0.95}]
`)
	vec := make(promql.Vector, 100000)
	for i := range vec {
		v := 0.1
		if i%10 == 0 {
			v = 0.1
		}
		vec[i] = promql.Sample{Metric: labels.FromStrings("__name__", "x", "i", fmt.Sprint(i), "j", "k"), F: v}
	}
	ar := newAlertingRule(r, 10*time.Second)
	e := &env{interval: 10 * time.Second, thresholds: defaults{}}
	ts := t0
	for range 3 {
		ar.eval(context.Background(), ts, vec, e, time.Hour)
		ts = ts.Add(10 * time.Second)
	}
	b.ReportAllocs()
	for b.Loop() {
		ar.eval(context.Background(), ts, vec, e, time.Hour)
		ts = ts.Add(10 * time.Second)
	}
}
