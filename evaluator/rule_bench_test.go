package evaluator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/gatewarden/gatewarden/rules"
)

// benchRuleEval judges one rule with levels over 100k output series, a
// tenth of them hot when hot is set; the annotation is templated.
func benchRuleEval(b *testing.B, hot bool) {
	gs, err := rules.Parse([]byte(`groups:
  - name: g
    rules:
      - alert: A
        expr: x
        condition: {function: all, window: "#3", op: ">", value: 0.8}
        levels: [{level: 2, value: 0.8}, {level: 1, value: 0.95}]
        annotations: {summary: "{{ $labels.i }} at {{ $value }}"}
`), "r.yml")
	if err != nil {
		b.Fatal(err)
	}
	vec := make(promql.Vector, 100000)
	for i := range vec {
		v := 0.1
		if hot && i%10 == 0 {
			v = 0.9
		}
		vec[i] = promql.Sample{Metric: labels.FromStrings("__name__", "x", "i", fmt.Sprint(i), "j", "k"), F: v}
	}
	ar := newAlertingRule(&gs.Groups[0].Rules[0], 10*time.Second)
	e := &env{interval: 10 * time.Second, thresholds: defaults{}}
	ts := t0
	for range 3 { // fill the windows: the hot tenth fires
		ar.eval(context.Background(), ts, vec, e, time.Hour)
		ts = ts.Add(10 * time.Second)
	}
	b.ReportAllocs()
	for b.Loop() {
		ar.eval(context.Background(), ts, vec, e, time.Hour)
		ts = ts.Add(10 * time.Second)
	}
}

// BenchmarkRuleEval100k: 10k of the 100k series firing.
func BenchmarkRuleEval100k(b *testing.B) { benchRuleEval(b, true) }

// BenchmarkRuleEval100kNoFiring: the quiet case.
func BenchmarkRuleEval100kNoFiring(b *testing.B) { benchRuleEval(b, false) }
