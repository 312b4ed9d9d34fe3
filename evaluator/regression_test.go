package evaluator

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
)

// R1: a step target that vanishes (e.g. its period label changed) keeps its
// step alerts firing forever and is never forgotten.
func TestRegressionStepsOfVanishedTargetNeverResolve(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Budget
        expr: spend
        steps: [0.5, 0.75]
        period_label: p
`)
	h.add(at(0), map[string]float64{`spend{m="m1",p="nov"}`: 0.6})
	h.expect("nov crosses 0.5", h.eval(at(0)), `{a="Budget", m="m1", p="nov", period_start="2026-11-22T10:00:00Z", step="0.5"} firing`)
	h.add(at(1), map[string]float64{`spend{m="m1",p="nov"}`: staleNaN, `spend{m="m1",p="dec"}`: 0.1})
	h.eval(at(1))
	h.add(at(400), map[string]float64{`spend{m="m1",p="dec"}`: 0.1}) // 66 min later
	h.eval(at(400))
	h.expect("the old period's step must have resolved", h.states())
}

// R2: any drop of the value, however small, is a "new period": every step
// already announced is resolved and announced again in the same evaluation.
func TestRegressionStepsTinyDipReannounces(t *testing.T) {
	h := newHarness(t, stepRule)
	h.add(at(0), map[string]float64{`spend{m="m1"}`: 0.92})
	h.eval(at(0))
	h.add(at(1), map[string]float64{`spend{m="m1"}`: 0.919})
	h.expect("a 0.001 dip is not a new budget period", h.eval(at(1)))
}

// R3: the nodata alert of a series gone for good never ends, although
// forgetNoDataAfter says a deleted master stops alerting in a day.
func TestRegressionNoDataBlockNeverStops(t *testing.T) {
	h := newHarness(t, noDataRule)
	h.add(at(0), map[string]float64{`req{m="m2"}`: 1})
	h.eval(at(0))
	h.add(at(1), map[string]float64{`req{m="m2"}`: staleNaN})
	h.eval(at(1))
	h.eval(at(10))
	h.eval(at(6 * 60 * 25)) // 25 h later
	h.eval(at(6*60*25 + 100))
	h.expect("nodata for a series gone > 24h should have stopped", h.states())
}

// R4: function: nodata with a window longer than forgetAfter (10m) never
// fires: the target is deleted before the window has passed.
func TestRegressionNoDataFunctionLongWindow(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Silent
        expr: sum by (m) (req)
        condition: {function: nodata, window: 15m}
`)
	for i := 0; i <= 2; i++ {
		h.add(at(i), map[string]float64{`req{m="m2"}`: 1})
		h.eval(at(i))
	}
	h.add(at(3), map[string]float64{`req{m="m2"}`: staleNaN})
	var fired []string
	for i := 3; i <= 3+6*20; i += 6 { // every minute for 20 minutes
		fired = append(fired, h.eval(at(i))...)
	}
	h.expect("nodata over 15m should fire after 15 minutes", fired, `{a="Silent", m="m2"} firing`)
}

// R5: the group limit reports an error but the alerts are still sent and
// kept (Prometheus clears them and sends nothing).
func TestRegressionLimitDoesNotLimit(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    limit: 1
    rules:
      - alert: High
        expr: x > 10
`)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20, `x{i="b"}`: 20})
	h.expect("over the limit: nothing sent", h.eval(at(0)))
	h.expect("over the limit: nothing active", h.states())
}

// R6: a recording rule's output is committed only after the whole group,
// so a later rule of the same group reads the previous evaluation.
func TestRegressionRecordThenAlertSameGroup(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - record: x2
        expr: x * 2
      - alert: High
        expr: x2 > 10
`)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20})
	h.expect("Prometheus fires at the first evaluation", h.eval(at(0)), `{a="High", i="a"} firing`)
}

// R7: recording rules write no staleness markers for series that vanish.
func TestRegressionRecordingNoStaleness(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - record: big
        expr: x > 10
`)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(0))
	h.add(at(1), map[string]float64{`x{i="a"}`: 1})
	h.eval(at(1))
	v, err := InstantQuery(context.Background(), h.m.o.Engine, h.db, "big", at(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 0 {
		t.Errorf("recorded series gone at 10s still returned at 20s: %v", v)
	}
}

// R8: rule state is inherited by index: inserting a rule above loses the
// state of every rule below (a firing alert becomes pending again and is
// announced again when it re-fires).
func TestRegressionReloadInsertRuleLosesState(t *testing.T) {
	h := newHarness(t, plainRule)
	for i := 0; i <= 2; i++ {
		h.add(at(i), map[string]float64{`x{i="a"}`: 20})
		h.eval(at(i))
	}
	h.expect("firing", h.states(), `{a="High", i="a", severity="warning"} firing`)
	writeFile(t, filepath.Join(h.dir, "rules.yml"), `groups:
  - name: g
    rules:
      - alert: Other
        expr: y > 1
      - alert: High
        expr: x > 10
        for: 20s
        labels: {severity: warning}
`)
	cfg, _ := config.Load([]byte("global: {evaluation_interval: 10s}\nrule_files: [rules.yml]\n"), filepath.Join(h.dir, "gatewarden.yml"))
	if err := h.m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	h.add(at(3), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(3))
	h.expect("still firing after adding an unrelated rule", h.states(), `{a="High", i="a", severity="warning"} firing`)
}

// R9: save() hands the live Points slices to gob after releasing evalMtx.
func TestRegressionSaveRacesEval(t *testing.T) {
	h := newHarness(t, cpuRule)
	for i := 0; i < 5; i++ {
		h.add(at(i), map[string]float64{`cpu{i="a"}`: 0.9})
		h.eval(at(i))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = h.m.save()
			}
		}
	})
	for i := 5; i < 200; i++ {
		h.add(at(i), map[string]float64{`cpu{i="a"}`: 0.9})
		for _, g := range h.m.Groups() {
			g.Eval(context.Background(), at(i), h.m)
		}
	}
	close(stop)
	wg.Wait()
}

// R10: ApplyConfig holds m.mtx while waiting for a group loop that is
// blocked on evalMtx; once evalMtx is free the loop's Eval calls m.env,
// which needs m.mtx: deadlock (and OnScrape, hence scrapes, block too).
func TestRegressionApplyConfigDeadlock(t *testing.T) {
	h := newHarness(t, plainRule)
	g := h.m.Groups()[0]
	g.evalMtx.Lock() // as Status(), ActiveAlerts() or save() do
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.m.Run(ctx) }()
	time.Sleep(100 * time.Millisecond) // the loop's first Eval waits on evalMtx
	cfg, _ := config.Load([]byte("global: {evaluation_interval: 10s}\nrule_files: [rules.yml]\n"), filepath.Join(h.dir, "gatewarden.yml"))
	done := make(chan error)
	go func() { done <- h.m.ApplyConfig(cfg) }()
	time.Sleep(100 * time.Millisecond)
	g.evalMtx.Unlock()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("ApplyConfig deadlocked")
	}
}

// R11: evaluations come at most every interval/2 when several scrapes
// land (two gateway instances 5 s apart); each records a point, so "all
// over #3" holds after two distinct samples.
func TestRegressionHalfIntervalEvalsShrinkWindow(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: CPU
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 0.8}
`)
	half := func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Second) }
	h.add(half(0), map[string]float64{`cpu{i="a"}`: 0.9})
	h.eval(half(0))
	h.eval(half(1)) // scrape of another instance lands
	h.add(half(2), map[string]float64{`cpu{i="a"}`: 0.9})
	h.expect("two samples above 0.8 are not three", h.eval(half(2)))
}

// R12: resolved alerts are sent once; Prometheus re-sends them every
// resend delay during resolvedRetention.
func TestRegressionResolvedNotResent(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: High
        expr: x > 10
`)
	h.resend = time.Minute
	h.m = h.manager()
	h.add(at(0), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(0))
	h.add(at(1), map[string]float64{`x{i="a"}`: 1})
	h.eval(at(1))
	var got []string
	for i := 2; i < 20; i++ {
		h.add(at(i), map[string]float64{`x{i="a"}`: 1})
		got = append(got, h.eval(at(i))...)
	}
	if len(got) == 0 {
		t.Errorf("resolution never re-sent within 3 min (Prometheus re-sends every resend delay for 15m)")
	}
}
