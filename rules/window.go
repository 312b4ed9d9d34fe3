package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/util/kahansum"
)

// NoDataMemory is how many window spans a series is remembered after its
// last point: nodata holds for a series that has a point within
// NoDataMemory spans and none in the window. The memory is bounded so that
// a series gone for good stops alerting, and because the exported PromQL
// can only look back a fixed range.
const NoDataMemory = 4

// Holds compares a with b: > >= < <= exactly, == and != within Tolerance.
// NaN holds for no operator, as in PromQL; infinities compare as numbers,
// so +Inf == +Inf although their difference is NaN.
func (o Op) Holds(a, b float64) bool {
	switch o {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "==":
		return a == b || math.Abs(a-b) <= Tolerance
	case "!=":
		// Not !(==): NaN, and the NaN difference of equal infinities,
		// must fail.
		return math.Abs(a-b) > Tolerance
	}
	return false
}

// Span is how far back the window reaches when the rule is evaluated
// every interval, in whole intervals: N for #N, and for a duration as many
// as it holds evaluations (a 50s window at 20s holds now, -20s and -40s:
// 60s). Whole intervals keep the same evaluations in a PromQL subquery
// whenever, within the interval, Prometheus evaluates it.
//
// The evaluator must judge a series over its points of the last Span only
// (Window{Duration: Span}.Select), so that #N counts consecutive
// evaluations: after a gap a series needs N new points before it is judged
// again, and nodata over #N means N evaluations without the series. Select
// cannot do this itself since it does not know the interval; PromQL()
// relies on it, as PromQL has no "last N samples".
func (w Window) Span(interval time.Duration) time.Duration {
	n := time.Duration(w.Points)
	if n == 0 {
		n = (w.Duration + interval - 1) / interval
	}
	return n * interval
}

// Lookback is the window of points c judges: its Window, except that
// diff and pdiff over #N compare the latest point with each of the N
// points before it, as Open-Falcon and Nightingale read #N, and so take
// N+1 points. A duration is the same for every function: the latest point
// against every point of the span before it.
func (c Condition) Lookback() Window {
	if (c.Func == FuncDiff || c.Func == FuncPDiff) && c.Window.Points > 0 {
		return Window{Points: c.Window.Points + 1}
	}
	return c.Window
}

// ChangedWindows names the conditions of gs whose meaning changed when #N
// for diff and pdiff became Open-Falcon's (the N points before the
// latest, not N points in all), so that a check can say so once for each.
func ChangedWindows(gs *Groups) []string {
	var out []string
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			for _, c := range []struct {
				key string
				c   *Condition
			}{{"condition", r.Condition}, {"recover", r.Recover}} {
				if c.c == nil || c.c.Lookback() == c.c.Window {
					continue
				}
				n := c.c.Window.Points
				out = append(out, fmt.Sprintf("group %q, alert %q: %s: %s over #%d compares the latest point with the %d points before it (before this release, with %d): check the window and the threshold",
					g.Name, r.Alert, c.key, c.c.Func, n, n, n-1))
			}
		}
	}
	return out
}

// Select returns the points of the window at evaluation time now (ms): the
// last Points points, or those with T > now-Duration (and T <= now). The
// result shares points' backing array.
func (w Window) Select(points []Point, now int64) []Point {
	end := len(points)
	for end > 0 && points[end-1].T > now {
		end--
	}
	if w.Points > 0 {
		return points[max(0, end-w.Points):end]
	}
	from := now - w.Duration.Milliseconds()
	start := end
	for start > 0 && points[start-1].T > from {
		start--
	}
	return points[start:end]
}

// Judge applies c's function to the window at now, against threshold
// (which replaces c.Value: levels and overrides supply it). judged is
// false when the window has too few points: the series is then neither
// firing nor recovered. nodata is always judged; whether the series was
// seen before (within NoDataMemory spans) is the evaluator's to decide.
//
// The aggregates treat NaN as PromQL's *_over_time functions do (max and
// min skip NaN unless every point is NaN; sum and avg propagate it) and sum
// with the same compensated summation, so that exported rules agree with
// the evaluator to the last bit.
func (c Condition) Judge(points []Point, now int64, threshold float64) (holds, judged bool) {
	win := c.Lookback().Select(points, now)
	if c.Func == FuncNoData {
		return len(win) == 0, true
	}
	if len(win) < c.minPoints() {
		return false, false
	}
	op := c.Op
	switch c.Func {
	case FuncAll:
		for _, p := range win {
			if !op.Holds(p.V, threshold) {
				return false, true
			}
		}
		return true, true
	case FuncHappen:
		n := 0
		for _, p := range win {
			if op.Holds(p.V, threshold) {
				n++
			}
		}
		return n >= c.happenCount(), true
	case FuncMax:
		return op.Holds(extremeOverTime(win, func(cur, m float64) bool { return cur > m }), threshold), true
	case FuncMin:
		return op.Holds(extremeOverTime(win, func(cur, m float64) bool { return cur < m }), threshold), true
	case FuncSum:
		return op.Holds(sumOverTime(win), threshold), true
	case FuncAvg:
		return op.Holds(avgOverTime(win), threshold), true
	case FuncDiff, FuncPDiff:
		return c.judgeChange(win, threshold)
	}
	return false, false
}

// minPoints is how many points the window needs for c to be judged: a
// count window full, and for diff and pdiff the latest and one earlier
// point at least.
func (c Condition) minPoints() int {
	n := max(c.Lookback().Points, 1)
	if c.Func == FuncDiff || c.Func == FuncPDiff {
		n = max(n, 2)
	}
	return n
}

// happenCount is the number of points happen needs; a missing count means
// one, so that happen never holds on no hit at all.
func (c Condition) happenCount() int { return max(c.Count, 1) }

// judgeChange compares the latest point with each earlier one, in absolute
// terms (diff) or in percent of the earlier point (pdiff).
func (c Condition) judgeChange(win []Point, threshold float64) (holds, judged bool) {
	latest := win[len(win)-1].V
	judged = c.Func == FuncDiff
	for _, e := range win[:len(win)-1] {
		d := latest - e.V
		if c.Func == FuncPDiff {
			if e.V == 0 {
				continue // no percentage of nothing
			}
			d = d / e.V * 100
			judged = true
		}
		if c.Op.Holds(d, threshold) {
			return true, true
		}
	}
	return false, judged
}

// extremeOverTime is max_over_time or min_over_time: a NaN is replaced by
// any later number, so NaN comes out only when every point is NaN.
func extremeOverTime(win []Point, better func(cur, m float64) bool) float64 {
	m := win[0].V
	for _, p := range win[1:] {
		if better(p.V, m) || math.IsNaN(m) {
			m = p.V
		}
	}
	return m
}

// sumOverTime is sum_over_time: Kahan-Neumaier summation.
func sumOverTime(win []Point) float64 {
	var s, c float64
	for _, p := range win {
		s, c = kahansum.Inc(p.V, s, c)
	}
	if math.IsInf(s, 0) {
		return s
	}
	return s + c
}

// avgOverTime is avg_over_time: a compensated direct mean, switching to an
// incremental mean once the running sum overflows.
func avgOverTime(win []Point) float64 {
	s, n := win[0].V, 1.0
	var mean, c float64
	incremental := false
	for i, p := range win[1:] {
		n = float64(i + 2)
		if !incremental {
			ns, nc := kahansum.Inc(p.V, s, c)
			if !math.IsInf(ns, 0) {
				s, c = ns, nc
				continue
			}
			incremental = true
			mean = s / (n - 1)
			c /= n - 1
		}
		q := (n - 1) / n
		mean, c = kahansum.Inc(p.V/n, q*mean, q*c)
	}
	if incremental {
		return mean + c
	}
	return s/n + c/n
}
