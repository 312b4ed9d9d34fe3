package rules

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
)

func TestPromQLForms(t *testing.T) {
	const i = 10 * time.Second
	cond := func(f Func, w string, op Op) Condition {
		win, err := ParseWindow(w)
		if err != nil {
			t.Fatal(err)
		}
		return Condition{Func: f, Window: win, Op: op}
	}
	happen := cond(FuncHappen, "#5", ">")
	happen.Count = 2
	for _, tc := range []struct {
		c    Condition
		expr string
		t    float64
		want string
	}{
		{cond(FuncAll, "#3", ">"), "cpu", 0.8,
			`count_over_time(((cpu) > 0.8)[30s:10s]) >= 3`},
		{cond(FuncAll, "1m", "<="), "cpu", 0.8,
			`min_over_time(((cpu) <= bool 0.8)[1m:10s]) == 1 and present_over_time((cpu)[10s:10s])`},
		{happen, "cpu", 0.8,
			`count_over_time(((cpu) > 0.8)[50s:10s]) >= 2 and count_over_time((cpu)[50s:10s]) == 5`},
		{cond(FuncHappen, "#2", "=="), "cpu", 0.8,
			`count_over_time((abs((cpu) - 0.8) <= 0.0001)[20s:10s]) >= 1 and count_over_time((cpu)[20s:10s]) == 2`},
		{cond(FuncMax, "5m", "<"), `rate(x[1m]) # per second`, 1e-5,
			`max_over_time((rate(x[1m]))[5m:10s]) < 1e-05 and present_over_time((rate(x[1m]))[10s:10s])`},
		{cond(FuncAvg, "#3", "!="), "cpu", -2,
			`abs(avg_over_time((cpu)[30s:10s]) - -2) > 0.0001 and count_over_time((cpu)[30s:10s]) == 3`},
		{cond(FuncSum, "#3", "=="), "cpu", math.Inf(1),
			`sum_over_time((cpu)[30s:10s]) == +Inf and count_over_time((cpu)[30s:10s]) == 3`},
		{cond(FuncDiff, "#3", ">"), "cpu", 100,
			`max_over_time((last_over_time((cpu)[10s:10s] @ end()) - (cpu) > 100)[30s:10s] offset 10s) and count_over_time((cpu)[40s:10s]) == 4`},
		{cond(FuncPDiff, "#1", "<"), "cpu", -10,
			`min_over_time(((last_over_time((cpu)[10s:10s] @ end()) - (cpu)) / ((cpu) != 0) * 100 < -10)[10s:10s] offset 10s) and count_over_time((cpu)[20s:10s]) == 2`},
		{cond(FuncDiff, "2m", "<="), "cpu", -5,
			`min_over_time((last_over_time((cpu)[10s:10s] @ end()) - (cpu) <= -5)[1m50s:10s] offset 10s)`},
		{cond(FuncPDiff, "1m", "=="), "cpu", 50,
			`max_over_time((abs((last_over_time((cpu)[10s:10s] @ end()) - (cpu)) / ((cpu) != 0) * 100 - 50) <= 0.0001)[50s:10s] offset 10s)`},
		{cond(FuncNoData, "#3", ""), `up{job="gw"}`, 0,
			`last_over_time((up{job="gw"})[1m30s:10s] offset 30s) unless present_over_time((up{job="gw"})[30s:10s])`},
	} {
		got, err := tc.c.PromQL(tc.expr, tc.t, i)
		if err != nil {
			t.Errorf("%s %s %s: %v", tc.c.Func, tc.c.Window, tc.c.Op, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tc.c.Func, tc.c.Window, tc.c.Op, got, tc.want)
		}
		if _, err := ParseExpr(got); err != nil {
			t.Errorf("%s does not parse: %v", got, err)
		}
	}
}

func TestPromQLRefuses(t *testing.T) {
	for _, tc := range []struct {
		c        Condition
		expr     string
		interval time.Duration
		want     string
	}{
		{Condition{Func: FuncDiff, Window: Window{Duration: 999 * time.Millisecond}, Op: ">"}, "cpu", time.Second, "no earlier point"},
		{Condition{Func: FuncPDiff, Window: Window{Duration: 10 * time.Second}, Op: ">"}, "cpu", 10 * time.Second, "no earlier point"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "cpu @ end()", time.Second, "@ start() or @ end()"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "max_over_time((cpu)[1m:] @ start())", time.Second, "@ start() or @ end()"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "scalar(cpu)", time.Second, "instant vector"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "cpu[", time.Second, "unexpected"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "cpu", 0, "interval"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: ">"}, "cpu", time.Microsecond, "interval"},
		{Condition{Func: FuncAll, Op: ">"}, "cpu", time.Second, "window"},
		{Condition{Func: FuncAll, Window: Window{Points: 3}, Op: "=>"}, "cpu", time.Second, "operator"},
		{Condition{Func: "median", Window: Window{Points: 3}, Op: ">"}, "cpu", time.Second, "window function"},
	} {
		got, err := tc.c.PromQL(tc.expr, 1, tc.interval)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v over %q: got %q, %v; want an error about %q", tc.c, tc.expr, got, err, tc.want)
		}
	}
}

// differentialData has series that cross thresholds up and down, sit on
// the tolerance edges of == and !=, have a gap longer than the lookback and
// a staleness marker, start late, stop, pass through zero, carry NaN and
// infinities, and sum to values that naive summation gets wrong.
const differentialData = `
load 10s
  m{s="wave"}  0+1x10 9-1x9 0+2.5x4 7.5-2.5x3 0+1x10 9-1x9 0+1x10 9-1x9
  m{s="tol"}   5 5.00005 5.0001 5.00011 4.9999 4.99989 5 5 5.0001 5.0001 5.0001 4.9998 5 6 5 5.0001 5 0.0001 0 -0.0001 0.00011 0
  m{s="gap"}   1+1x20 _x40 21+1x20 stale _x5 3 3 3 8 8 8 0 0 3
  m{s="late"}  _x60 -5+1x30 25-5x8
  m{s="stops"} 8 2 9 1 10 0 7 3 6 4 5 5 5 5
  m{s="zeros"} 0 0 0 4 0 8 0 0 0 0 2 4 0 -4 0 0 0 0 0 6 3 0x10 5 10 20 0 0 2
  m{s="frac"}  0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2 0.3 0.1 0.2
  m{s="odd"}   1 NaN 5 Inf 6 -Inf 7 NaN NaN 3 Inf Inf 2 -Inf -Inf 4 NaN 5 5 5 Inf 5 0 NaN 0 -Inf 8
`

// differentialEnd is the last evaluation time: late enough to see every
// series stop and be forgotten by nodata.
const differentialEnd = 30 * time.Minute

// differentialThresholds are chosen for each function to cross the data.
var differentialThresholds = map[Func][]float64{
	FuncAll:    {0, 5},
	FuncHappen: {0, 5},
	FuncMax:    {0, 5},
	FuncMin:    {0, 5},
	FuncAvg:    {5, 0.2},
	FuncSum:    {20, 0.6, math.Inf(1)},
	FuncDiff:   {-3, 0, 3},
	FuncPDiff:  {-50, 100},
	FuncNoData: {0},
}

// TestPromQLAgreesWithJudge is the differential test: at every evaluation
// time, the series for which Judge holds over what the evaluator collected
// are the series the exported expression returns.
func TestPromQLAgreesWithJudge(t *testing.T) {
	st := promqltest.LoadedStorage(t, differentialData)
	// 20s: a data step shorter than the interval, durations that are not
	// multiples of it.
	intervals := []time.Duration{10 * time.Second, 20 * time.Second}
	if testing.Short() {
		intervals = intervals[:1]
	}
	for _, interval := range intervals {
		t.Run(interval.String(), func(t *testing.T) {
			t.Parallel()
			eng := promql.NewEngine(promql.EngineOpts{
				MaxSamples:               1e7,
				Timeout:                  time.Minute,
				LookbackDelta:            5 * time.Minute,
				EnableAtModifier:         true,
				NoStepSubqueryIntervalFn: func(int64) int64 { return interval.Milliseconds() },
			})
			var times []int64
			for ts := time.Duration(0); ts <= differentialEnd; ts += interval {
				times = append(times, ts.Milliseconds())
			}
			for _, expr := range []string{"m", `sum by (s) (m{s=~"wave|gap|odd"}) * 2 # a comment`} {
				hist := collectPoints(t, eng, st, expr, times)
				for _, c := range differentialConditions(expr != "m") {
					for _, thr := range differentialThresholds[c.Func] {
						name := fmt.Sprintf("%s %s %s %s %g", expr, c.Func, c.Window, c.Op, thr)
						q, err := c.PromQL(expr, thr, interval)
						if err != nil {
							if (c.Func == FuncDiff || c.Func == FuncPDiff) && c.Lookback().Span(interval) <= interval {
								continue // refused, see TestPromQLRefuses
							}
							t.Fatalf("%s: %v", name, err)
						}
						reportDifferences(t, name, q, times, func(now int64) []string {
							return judgedSeries(c, hist, now, thr, interval)
						}, func(now int64) []string {
							return seriesKeys(t, instantQuery(t, eng, st, q, now+skew(now, interval)))
						})
					}
				}
			}
		})
	}
}

// skew is how much later than the evaluator Prometheus evaluates the
// exported rule, within the interval, as it offsets a rule group's
// evaluations: by turns not, by half the interval and by all but 1ms.
func skew(now int64, interval time.Duration) int64 {
	i := interval.Milliseconds()
	return []int64{0, i / 2, i - 1}[now/i%3]
}

// differentialConditions is every function with every operator over a
// window of each kind, and with a few operators over more windows; fewer
// for a second expression, whose output has no __name__.
func differentialConditions(second bool) []Condition {
	all := []Op{">", ">=", "==", "<", "<=", "!="}
	some := []Op{">", "<=", "=="}
	windows := map[Window][]Op{{Points: 3}: all, {Duration: 50 * time.Second}: all, {Points: 1}: some, {Duration: 2 * time.Minute}: some}
	if second {
		windows = map[Window][]Op{{Points: 3}: {">", "!="}, {Duration: 50 * time.Second}: {">", "!="}}
	}
	var cs []Condition
	for w, ops := range windows {
		cs = append(cs, Condition{Func: FuncNoData, Window: w})
		for _, f := range []Func{FuncAll, FuncHappen, FuncMax, FuncMin, FuncAvg, FuncSum, FuncDiff, FuncPDiff} {
			for _, op := range ops {
				c := Condition{Func: f, Window: w, Op: op}
				if f == FuncHappen {
					c.Count = 2
				}
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// reportDifferences reports the evaluation times at which want and got disagree,
// the first few of them.
func reportDifferences(t *testing.T, name, q string, times []int64, want, got func(now int64) []string) {
	t.Helper()
	bad := 0
	for _, now := range times {
		w, g := want(now), got(now)
		if slices.Equal(w, g) {
			continue
		}
		if bad++; bad <= 3 {
			t.Errorf("%s at %gs\n  %s\n  Judge holds for %v\n  PromQL returns  %v", name, float64(now)/1000, q, w, g)
		}
	}
}

// evalHistory is what the evaluator collects: each output series' points,
// keyed by its labels without __name__.
type evalHistory map[string][]Point

// collectPoints evaluates expr at every evaluation time, as the evaluator does.
func collectPoints(t *testing.T, eng *promql.Engine, st storage.Queryable, expr string, times []int64) evalHistory {
	h := evalHistory{}
	for _, now := range times {
		for _, s := range instantQuery(t, eng, st, expr, now) {
			k := s.Metric.DropMetricName().String()
			h[k] = append(h[k], Point{T: now, V: s.F})
		}
	}
	return h
}

// judgedSeries returns the series for which the evaluator finds c holding at
// now: the series in expr's output now, judged over their points of the
// window's span; for nodata, the series with a point within NoDataMemory
// spans and none in the window.
func judgedSeries(c Condition, h evalHistory, now int64, threshold float64, interval time.Duration) []string {
	span := c.Lookback().Span(interval)
	var out []string
	for k, pts := range h {
		kept := Window{Duration: span}.Select(pts, now)
		var holds, ok bool
		switch {
		case c.Func == FuncNoData:
			holds, ok = c.Judge(kept, now, threshold)
			ok = ok && len(Window{Duration: NoDataMemory * span}.Select(pts, now)) > 0
		case len(kept) > 0 && kept[len(kept)-1].T == now:
			holds, ok = c.Judge(kept, now, threshold)
		}
		if holds && ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func instantQuery(t *testing.T, eng *promql.Engine, st storage.Queryable, q string, now int64) promql.Vector {
	t.Helper()
	qry, err := eng.NewInstantQuery(context.Background(), st, nil, q, time.UnixMilli(now))
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	v, err := res.Vector()
	if err != nil {
		t.Fatalf("%s at %d: %v", q, now, err)
	}
	return v
}

// seriesKeys are the sorted labels without __name__ of a query's result.
func seriesKeys(t *testing.T, v promql.Vector) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		out = append(out, s.Metric.DropMetricName().String())
	}
	slices.Sort(out)
	if len(slices.Compact(slices.Clone(out))) != len(out) {
		t.Fatalf("duplicate series in %v", out)
	}
	return out
}
