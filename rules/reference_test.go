package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// refJudge is seed 004's table of trigger functions read literally, and
// written apart from Judge: the values of the window, then
//
//	all     every value op v            happen  at least count values op v
//	max/min/avg/sum  the aggregate op v nodata  no value in the window
//	diff    the latest value minus any earlier value of the window op v
//	pdiff   the same divided by that earlier value, in percent (an
//	        earlier 0 has no percentage and is passed over)
//
// A window "#N" is the last N evaluations (for diff and pdiff the latest
// and the N before it, Open-Falcon's reading); a duration D is the
// evaluations after now-D. An evaluation without a value (nil: a gap) is
// no value; a count window with a gap, or a window with fewer values than
// the function needs, is not judged. == and != compare within 1e-4.
func refJudge(f Func, w Window, op Op, count int, slots []*float64, step time.Duration, v float64) (holds, judged bool) {
	var vals []float64
	take := w.Points
	if take > 0 && (f == FuncDiff || f == FuncPDiff) {
		take++
	}
	for i := len(slots) - 1; i >= 0; i-- {
		age := time.Duration(len(slots)-1-i) * step
		if take > 0 && len(slots)-1-i >= take || take == 0 && age >= w.Duration {
			break
		}
		if slots[i] != nil {
			vals = append([]float64{*slots[i]}, vals...)
		} else if take > 0 && f != FuncNoData {
			return false, false
		}
	}
	cmp := func(a float64) bool {
		switch op {
		case ">":
			return a > v
		case ">=":
			return a >= v
		case "<":
			return a < v
		case "<=":
			return a <= v
		case "==":
			return math.Abs(a-v) <= 1e-4
		case "!=":
			return math.Abs(a-v) > 1e-4
		}
		return false
	}
	if f == FuncNoData {
		return len(vals) == 0, true
	}
	need := max(take, 1)
	if f == FuncDiff || f == FuncPDiff {
		need = max(need, 2)
	}
	if len(vals) < need {
		return false, false
	}
	switch f {
	case FuncAll, FuncHappen:
		n := 0
		for _, x := range vals {
			if cmp(x) {
				n++
			}
		}
		if f == FuncAll {
			return n == len(vals), true
		}
		return n >= max(count, 1), true
	case FuncMax, FuncMin, FuncAvg, FuncSum:
		agg := vals[0]
		sum := 0.0
		for _, x := range vals {
			sum += x
			if f == FuncMax && x > agg || f == FuncMin && x < agg {
				agg = x
			}
		}
		switch f {
		case FuncAvg:
			agg = sum / float64(len(vals))
		case FuncSum:
			agg = sum
		}
		return cmp(agg), true
	}
	latest, any, some := vals[len(vals)-1], false, false
	for _, e := range vals[:len(vals)-1] {
		d := latest - e
		if f == FuncPDiff {
			if e == 0 {
				continue
			}
			d = d / e * 100
		}
		some = true
		any = any || cmp(d)
	}
	return any, some
}

// TestJudgeAgreesWithSeed holds Judge, on the points the evaluator keeps,
// to the reference: edge cases first, then random histories.
func TestJudgeAgreesWithSeed(t *testing.T) {
	const step = 10 * time.Second
	val := func(x float64) *float64 { return &x }
	type history []*float64
	edges := []history{
		{val(1), val(9), val(9), val(4)},              // the diff(#3) > 2
		{val(9), val(4)},                              // a window not yet full
		{val(0), val(0), val(6)},                      // pdiff over zeros only
		{val(0), val(4), val(0), val(6)},              // zeros among the earlier points
		{val(5), val(5.00005), val(4.99995)},          // equal within 1e-4
		{val(5), val(5.0002), val(5)},                 // not equal
		{val(3), nil, val(5), val(7)},                 // a gap inside the window
		{val(3), val(5), val(7), nil},                 // the latest evaluation missing
		{nil, nil, nil, val(2)},                       // only the latest
		{val(2), val(4), nil, nil, nil, nil, nil},     // gone
		{val(-4), val(2), val(-8), val(-8), val(1)},   // negative values
		{val(1e6), val(1), val(1e-3), val(2), val(0)}, // wide range, to zero
	}
	rng := rand.New(rand.NewPCG(16, 4))
	var random []history
	for range 400 {
		h := make(history, 2+rng.IntN(7))
		for i := range h {
			if rng.IntN(6) > 0 {
				h[i] = val(float64(rng.IntN(7) - 2))
			}
		}
		random = append(random, h)
	}
	windows := []Window{{Points: 1}, {Points: 2}, {Points: 3}, {Points: 4}, {Duration: 10 * time.Second}, {Duration: 25 * time.Second}, {Duration: 40 * time.Second}}
	thresholds := []float64{-2, 0, 2, 50}
	for _, h := range append(edges, random...) {
		now := int64(len(h)-1) * step.Milliseconds()
		var points []Point
		for i, x := range h {
			if x != nil {
				points = append(points, Point{T: int64(i) * step.Milliseconds(), V: *x})
			}
		}
		for _, f := range []Func{FuncAll, FuncHappen, FuncMax, FuncMin, FuncAvg, FuncSum, FuncDiff, FuncPDiff, FuncNoData} {
			for _, w := range windows {
				for _, op := range allOps {
					for _, v := range thresholds {
						c := Condition{Func: f, Window: w, Op: op, Value: v, Count: 2}
						kept := Window{Duration: c.Lookback().Span(step)}.Select(points, now)
						holds, judged := c.Judge(kept, now, v)
						wantHolds, wantJudged := refJudge(f, w, op, 2, h, step, v)
						if holds != wantHolds || judged != wantJudged {
							t.Fatalf("%s over %s %s %g on %s: holds %v judged %v, the seed says holds %v judged %v",
								f, w, op, v, fmtHistory(h), holds, judged, wantHolds, wantJudged)
						}
					}
				}
			}
		}
	}
}

func fmtHistory(h []*float64) string {
	s := "["
	for i, x := range h {
		if i > 0 {
			s += " "
		}
		if x == nil {
			s += "_"
		} else {
			s += fmt.Sprint(*x)
		}
	}
	return s + "]"
}
