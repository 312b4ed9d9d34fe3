package rules

import (
	"fmt"
	"math"
	"testing"
	"time"
)

var (
	nan = math.NaN()
	inf = math.Inf(1)
)

// allOps is the order of the verdicts in judgeCase.want.
var allOps = []Op{">", ">=", "==", "<", "<=", "!="}

// every10s are points 10 s apart, the last at now.
func every10s(now int64, vs ...float64) []Point {
	ps := make([]Point, len(vs))
	for i, v := range vs {
		ps[i] = Point{T: now - int64(len(vs)-1-i)*10_000, V: v}
	}
	return ps
}

func TestHolds(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want string // per allOps: y holds, n does not
	}{
		{2, 1, "yynnny"},
		{1, 1, "nyynyn"},
		{1, 2, "nnnyyy"},
		{1e-4, 0, "yyynnn"},  // == within tolerance, inclusive
		{0, 1e-4, "nnyyyn"},  // and symmetric
		{-1e-4, 0, "nnyyyn"}, // below
		{1.0001e-4, 0, "yynnny"},
		{0, -1.0001e-4, "yynnny"},
		{1 + 1e-4 + 1e-12, 1, "yynnny"},
		{nan, 1, "nnnnnn"},
		{1, nan, "nnnnnn"},
		{nan, nan, "nnnnnn"},
		{inf, inf, "nyynyn"},
		{-inf, -inf, "nyynyn"},
		{inf, -inf, "yynnny"},
		{inf, math.MaxFloat64, "yynnny"},
		{-inf, 0, "nnnyyy"},
	} {
		for i, op := range allOps {
			if got := op.Holds(tc.a, tc.b); got != (tc.want[i] == 'y') {
				t.Errorf("%g %s %g = %v, want %c", tc.a, op, tc.b, got, tc.want[i])
			}
		}
	}
	if Op("=>").Holds(2, 1) {
		t.Error("an unknown operator holds")
	}
}

func TestSelect(t *testing.T) {
	ps := every10s(100_000, 1, 2, 3, 4, 5) // at 60 70 80 90 100 s
	for _, tc := range []struct {
		w     string
		now   int64
		first int // index of the first point selected
		n     int
	}{
		{"#3", 100_000, 2, 3},
		{"#5", 100_000, 0, 5},
		{"#9", 100_000, 0, 5},
		{"#2", 85_000, 1, 2},   // points after now are not yet there
		{"#2", 50_000, 0, 0},   // nor any before
		{"30s", 100_000, 2, 3}, // (70 s, 100 s]: 70 s is out
		{"31s", 100_000, 1, 4},
		{"30s", 95_000, 1, 3},
		{"1h", 100_000, 0, 5},
		{"10s", 200_000, 5, 0},
	} {
		w, err := ParseWindow(tc.w)
		if err != nil {
			t.Fatal(err)
		}
		got := w.Select(ps, tc.now)
		if len(got) != tc.n || (tc.n > 0 && &got[0] != &ps[tc.first]) {
			t.Errorf("%s at %d: got %v, want %d points from %v", tc.w, tc.now, got, tc.n, ps[min(tc.first, len(ps)-1)])
		}
	}
	if got := (Window{Points: 3}).Select(nil, 0); len(got) != 0 {
		t.Errorf("nil points: got %v", got)
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		w        string
		interval time.Duration
		want     time.Duration
	}{
		{"#3", 10 * time.Second, 30 * time.Second},
		{"1m", 10 * time.Second, time.Minute},
		{"50s", 20 * time.Second, time.Minute},
		{"41s", 20 * time.Second, time.Minute},
		{"40s", 20 * time.Second, 40 * time.Second},
		{"5s", 20 * time.Second, 20 * time.Second},
	} {
		w, err := ParseWindow(tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Span(tc.interval); got != tc.want {
			t.Errorf("%s at %v: %v, want %v", tc.w, tc.interval, got, tc.want)
		}
	}
}

type judgeCase struct {
	name   string
	f      Func
	window string
	count  int
	vs     []float64 // every10s, the last at now
	t      float64
	want   string // per allOps: y holds, n does not, - not judged
}

var judgeCases = []judgeCase{
	// all
	{"all above", FuncAll, "#3", 0, []float64{6, 7, 8}, 5, "yynnny"},
	{"all one on the threshold", FuncAll, "#3", 0, []float64{5, 7, 8}, 5, "nynnnn"},
	{"all below", FuncAll, "#3", 0, []float64{1, 2, 3}, 5, "nnnyyy"},
	{"all within tolerance", FuncAll, "#3", 0, []float64{5, 5.00005, 4.99995}, 5, "nnynnn"},
	{"all over the last points only", FuncAll, "#2", 0, []float64{1, 7, 8}, 5, "yynnny"},
	{"all by duration", FuncAll, "20s", 0, []float64{1, 7, 8}, 5, "yynnny"},
	{"all with NaN", FuncAll, "#3", 0, []float64{6, nan, 7}, 5, "nnnnnn"},
	{"all infinite", FuncAll, "#2", 0, []float64{inf, inf}, 5, "yynnny"},
	// happen
	{"happen 2 of 3", FuncHappen, "#3", 2, []float64{4, 6, 7}, 5, "yynnny"},
	{"happen on the threshold", FuncHappen, "#3", 2, []float64{5, 5, 7}, 5, "nyynyn"},
	{"happen below", FuncHappen, "#3", 2, []float64{1, 2, 9}, 5, "nnnyyy"},
	{"happen count above the window", FuncHappen, "#3", 4, []float64{6, 7, 8}, 5, "nnnnnn"},
	{"happen count above the points", FuncHappen, "1m", 4, []float64{6, 7, 8}, 5, "nnnnnn"},
	{"happen without count: one", FuncHappen, "#2", 0, []float64{1, 9}, 5, "yynyyy"},
	{"happen with NaN", FuncHappen, "#3", 2, []float64{nan, nan, 7}, 5, "nnnnnn"},
	// max, min
	{"max", FuncMax, "#3", 0, []float64{1, 9, 5}, 9, "nyynyn"},
	{"max below", FuncMax, "#3", 0, []float64{1, 2, 3}, 5, "nnnyyy"},
	{"max skips NaN", FuncMax, "#3", 0, []float64{nan, 3, nan}, 1, "yynnny"},
	{"max of NaN only", FuncMax, "#2", 0, []float64{nan, nan}, 1, "nnnnnn"},
	{"max infinite", FuncMax, "#2", 0, []float64{-inf, inf}, inf, "nyynyn"},
	{"min", FuncMin, "#3", 0, []float64{1, 9, 5}, 1, "nyynyn"},
	{"min skips NaN", FuncMin, "#3", 0, []float64{4, nan, 3}, 2, "yynnny"},
	{"min minus infinity", FuncMin, "#2", 0, []float64{-inf, 3}, -1e308, "nnnyyy"},
	// avg, sum
	{"avg", FuncAvg, "#3", 0, []float64{1, 2, 6}, 3, "nyynyn"},
	{"avg above", FuncAvg, "#2", 0, []float64{4, 8}, 5, "yynnny"},
	{"avg below", FuncAvg, "#2", 0, []float64{1, 2}, 5, "nnnyyy"},
	{"avg compensated", FuncAvg, "#3", 0, []float64{0.1, 0.2, 0.3}, 0.2, "nyynyn"},
	{"avg past overflow", FuncAvg, "#2", 0, []float64{math.MaxFloat64, math.MaxFloat64}, math.MaxFloat64, "nyynyn"},
	{"avg with NaN", FuncAvg, "#2", 0, []float64{nan, 3}, 1, "nnnnnn"},
	{"sum", FuncSum, "#3", 0, []float64{1, 2, 6}, 9, "nyynyn"},
	{"sum above", FuncSum, "#2", 0, []float64{4, 8}, 5, "yynnny"},
	{"sum below", FuncSum, "#2", 0, []float64{1, 2}, 5, "nnnyyy"},
	{"sum compensated", FuncSum, "#3", 0, []float64{0.1, 0.2, 0.3}, 0.6, "nyynyn"},
	{"sum of opposite infinities", FuncSum, "#2", 0, []float64{inf, -inf}, 0, "nnnnnn"},
	{"sum infinite", FuncSum, "#2", 0, []float64{inf, 1}, inf, "nyynyn"},
	// diff: latest minus each of the earlier points; #N is the N before
	// the latest (Open-Falcon), so #2 takes 3 points.
	{"diff up and down", FuncDiff, "#2", 0, []float64{10, 2, 5}, 3, "nyyyyy"}, // -5 and 3
	{"diff down", FuncDiff, "#2", 0, []float64{10, 2, 5}, -5, "yyynyy"},
	{"diff negative values", FuncDiff, "#2", 0, []float64{-2, -8, -5}, 0, "yynyyy"}, // -3 and 3
	{"diff later lower", FuncDiff, "#2", 0, []float64{9, 8, 7}, 0, "nnnyyy"},        // -2 and -1
	{"diff all equal", FuncDiff, "#2", 0, []float64{4, 4, 4}, 0, "nyynyn"},
	{"diff within tolerance", FuncDiff, "#1", 0, []float64{1, 1.00005}, 0, "yyynnn"},
	{"diff by duration", FuncDiff, "20s", 0, []float64{100, 2, 5}, 3, "nyynyn"},
	{"diff skips NaN", FuncDiff, "#2", 0, []float64{nan, 2, 5}, 3, "nyynyn"},
	{"diff of NaN", FuncDiff, "#1", 0, []float64{2, nan}, 3, "nnnnnn"},
	{"diff #N reaches N points back", FuncDiff, "#3", 0, []float64{1, 9, 9, 4}, 2, "yynyyy"}, // 3, -5 and -5
	{"diff #N needs N+1 points", FuncDiff, "#3", 0, []float64{9, 9, 4}, 2, "------"},
	{"diff infinite", FuncDiff, "#2", 0, []float64{inf, 1, inf}, inf, "nyynyn"}, // NaN and +Inf
	// pdiff: the same in percent of the earlier point
	{"pdiff", FuncPDiff, "#2", 0, []float64{8, 4, 6}, 50, "nyyyyy"}, // -25 and 50
	{"pdiff up", FuncPDiff, "#1", 0, []float64{4, 6}, 20, "yynnny"},
	{"pdiff skips zeros", FuncPDiff, "#2", 0, []float64{0, 4, 6}, 50, "nyynyn"},
	{"pdiff of zeros only", FuncPDiff, "#2", 0, []float64{0, 0, 6}, 50, "------"},
	{"pdiff to zero", FuncPDiff, "#1", 0, []float64{5, 0}, -100, "nyynyn"},
	{"pdiff negative earlier", FuncPDiff, "#1", 0, []float64{-4, 2}, -150, "nyynyn"},
	{"pdiff of NaN", FuncPDiff, "#1", 0, []float64{nan, 2}, 0, "nnnnnn"},
	// nodata: the operator and threshold do not matter
	{"nodata with points", FuncNoData, "1m", 0, []float64{1}, 0, "nnnnnn"},
	{"nodata with NaN", FuncNoData, "1m", 0, []float64{nan}, 0, "nnnnnn"},
	{"nodata without points", FuncNoData, "1m", 0, nil, 0, "yyyyyy"},
	{"nodata #N without points", FuncNoData, "#3", 0, nil, 0, "yyyyyy"},
	// too few points
	{"all too few", FuncAll, "#3", 0, []float64{6, 7}, 5, "------"},
	{"happen too few", FuncHappen, "#3", 1, []float64{6, 7}, 5, "------"},
	{"max too few", FuncMax, "#3", 0, []float64{6, 7}, 5, "------"},
	{"min too few", FuncMin, "#3", 0, []float64{6, 7}, 5, "------"},
	{"avg too few", FuncAvg, "#3", 0, []float64{6, 7}, 5, "------"},
	{"sum too few", FuncSum, "#3", 0, []float64{6, 7}, 5, "------"},
	{"diff too few", FuncDiff, "#3", 0, []float64{6, 7}, 0, "------"},
	{"pdiff too few", FuncPDiff, "#3", 0, []float64{6, 7}, 0, "------"},
	{"all empty duration", FuncAll, "1m", 0, nil, 5, "------"},
	{"max empty duration", FuncMax, "1m", 0, nil, 5, "------"},
	{"diff one point in duration", FuncDiff, "10s", 0, []float64{1, 7}, 0, "------"},
	{"pdiff one point in duration", FuncPDiff, "10s", 0, []float64{1, 7}, 0, "------"},
	{"diff one point", FuncDiff, "#1", 0, []float64{7}, 0, "------"},
	// unknown function
	{"unknown function", "median", "#1", 0, []float64{7}, 0, "------"},
}

func TestJudge(t *testing.T) {
	const now = 1_000_000
	for _, tc := range judgeCases {
		w, err := ParseWindow(tc.window)
		if err != nil {
			t.Fatal(err)
		}
		ps := every10s(now, tc.vs...)
		for i, op := range allOps {
			c := Condition{Func: tc.f, Window: w, Op: op, Count: tc.count}
			holds, judged := c.Judge(ps, now, tc.t)
			got := map[bool]byte{false: 'n', true: 'y'}[holds]
			if !judged {
				got = '-'
			}
			if got != tc.want[i] {
				t.Errorf("%s: %s over %s %s %g on %v = %c, want %c", tc.name, tc.f, tc.window, op, tc.t, tc.vs, got, tc.want[i])
			}
		}
	}
}

// TestJudgeNoDataOldPoint: a point out of a duration window is no data;
// #N counts points, not time, which is why the evaluator keeps a series'
// points for Window.Span only.
func TestJudgeNoDataOldPoint(t *testing.T) {
	old := []Point{{T: 0, V: 1}}
	for _, tc := range []struct {
		w    Window
		want bool
	}{{Window{Duration: time.Minute}, true}, {Window{Points: 3}, false}} {
		holds, judged := Condition{Func: FuncNoData, Window: tc.w}.Judge(old, time.Minute.Milliseconds(), 0)
		if holds != tc.want || !judged {
			t.Errorf("nodata over %s, a point 1m old: %v %v, want %v", tc.w, holds, judged, tc.want)
		}
	}
}

// TestJudgeFunctionsAndOperators makes sure the table has every function
// with every operator both holding and not.
func TestJudgeFunctionsAndOperators(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range judgeCases {
		for i, op := range allOps {
			seen[fmt.Sprintf("%s %s %c", tc.f, op, tc.want[i])] = true
		}
	}
	for f := range funcs {
		for _, op := range allOps {
			for _, v := range "yn-" {
				if f == FuncNoData && v == '-' {
					continue // always judged
				}
				if !seen[fmt.Sprintf("%s %s %c", f, op, v)] {
					t.Errorf("no case where %s with %s gives %c", f, op, v)
				}
			}
		}
	}
}

func TestJudgeAllocatesNothing(t *testing.T) {
	ps := every10s(1_000_000, 1, 0, 3, 4, 5, 6, 7, 8)
	for f := range funcs {
		c := Condition{Func: f, Window: Window{Duration: time.Minute}, Op: "!=", Count: 2}
		if n := testing.AllocsPerRun(100, func() { c.Judge(ps, 1_000_000, 3) }); n != 0 {
			t.Errorf("%s allocates %v times", f, n)
		}
	}
}

// BenchmarkJudge judges one series: a 5m window at a 10 s interval (30
// points), and #3, the plugin CPU rule's.
func BenchmarkJudge(b *testing.B) {
	vs := make([]float64, 32)
	for i := range vs {
		vs[i] = float64(i%7) + 0.5
	}
	ps := every10s(1_000_000, vs...)
	for _, w := range []Window{{Duration: 5 * time.Minute}, {Points: 3}} {
		for _, f := range []Func{FuncAll, FuncHappen, FuncMax, FuncMin, FuncAvg, FuncSum, FuncDiff, FuncPDiff, FuncNoData} {
			// Thresholds no point reaches, so that every point is looked at.
			c := Condition{Func: f, Window: w, Op: ">", Count: 40}
			if f == FuncAll {
				c.Op = "<"
			}
			b.Run(fmt.Sprintf("%s/%s", w, f), func(b *testing.B) {
				for b.Loop() {
					c.Judge(ps, 1_000_000, 1000)
				}
			})
		}
	}
}
