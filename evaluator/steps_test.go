package evaluator

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// memLedger keeps the step accounting across the harness's "processes"
// as the store does (cmd/gatewarden tests the store's with kill -9): one
// record per rule and target, steps announced once per period.
type memLedger struct {
	mu   sync.Mutex
	recs map[string]StepRecord // rule + target
	down bool
}

var errLedgerDown = errors.New("the ledger is down")

func (l *memLedger) StepRecords(_ context.Context, rule string) (map[string]StepRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil, errLedgerDown
	}
	out := map[string]StepRecord{}
	for k, r := range l.recs {
		if target, ok := strings.CutPrefix(k, rule+"|"); ok {
			r.Announced = maps.Clone(r.Announced)
			out[target] = r
		}
	}
	return out, nil
}

func (l *memLedger) StartStepPeriod(_ context.Context, rule, target, period string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return errLedgerDown
	}
	if l.recs == nil {
		l.recs = map[string]StepRecord{}
	}
	l.recs[rule+"|"+target] = StepRecord{Period: period, StartedAt: at, Announced: map[float64]time.Time{}}
	return nil
}

func (l *memLedger) AnnounceSteps(_ context.Context, rule, target string, start, now time.Time, alerts map[float64]*Alert) (map[float64]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil, errLedgerDown
	}
	r := l.recs[rule+"|"+target]
	out := map[float64]time.Time{}
	for s := range alerts {
		if at, ok := r.Announced[s]; ok && r.StartedAt.Equal(start) {
			out[s] = at
			continue
		}
		r.Announced[s], out[s] = now, now
	}
	return out, nil
}

// kill9 is a new process on the same ledger whose snapshot is older than
// what was announced: the kill came before any save.
func (h *harness) kill9() {
	h.m = h.manager()
	if err := h.m.restore(); err != nil {
		h.t.Fatal(err)
	}
	for _, g := range h.m.Groups() {
		h.m.claimRestored(g)
	}
}

// Finding 5 of issue 14: a kill -9 between evaluations sent the steps
// already announced again, and the next step as a jump past them.
func TestStepsOnceAcrossKill9(t *testing.T) {
	h := newHarness(t, stepRule)
	h.steps = &memLedger{}
	h.m = h.manager()
	spend := func(i int, v float64) []string {
		h.add(at(i), map[string]float64{`spend{m="m1"}`: v})
		return h.eval(at(i))
	}
	p0 := `period_start="2026-11-22T10:00:00Z", `
	h.expect("0.5 announced", spend(0, 0.6), `{a="Budget", m="m1", `+p0+`step="0.5"} firing`)
	// What a restarted process sends of a step is the same alert from the
	// same start: a receiver continues its episode, nothing new.
	unchanged := func(what string) {
		t.Helper()
		for _, a := range h.sent {
			if a.Labels.Get("step") == "0.5" && !a.FiredAt.Equal(at(0)) {
				t.Errorf("%s: 0.5 sent as fired at %v, want %v (its announcement)", what, a.FiredAt, at(0))
			}
		}
	}
	for i := 1; i <= 4; i++ {
		h.kill9()
		spend(i, 0.62)
		unchanged("after a kill -9")
		h.expect("the step still fires", h.states(), `{a="Budget", m="m1", `+p0+`step="0.5"} firing`)
	}
	h.kill9()
	spend(5, 0.8)
	unchanged("with the next step")
	var next []Alert
	for _, a := range h.sent {
		if a.Labels.Get("step") != "0.5" {
			next = append(next, a)
		}
	}
	if len(next) != 1 || next[0].Labels.Get("step") != "0.75" || next[0].Annotations.Get("steps_crossed") != "0.75" ||
		!next[0].FiredAt.Equal(at(5)) {
		t.Fatalf("the next step after kills (one step, not a jump past 0.5): %v", next)
	}
	// A new period survives a kill -9 too: the old steps resolve, the
	// next crossing is the new period's own alert.
	spend(6, 0.1)
	h.kill9()
	h.expect("the new period's 0.5", spend(7, 0.55), `{a="Budget", m="m1", period_start="2026-11-22T10:01:00Z", step="0.5"} firing`)
}

// A ledger that cannot be written announces nothing: the step is announced
// once it can be, once.
func TestStepsWaitForTheLedger(t *testing.T) {
	h := newHarness(t, stepRule)
	l := &memLedger{}
	h.steps = l
	h.m = h.manager()
	h.add(at(0), map[string]float64{`spend{m="m1"}`: 0.2})
	h.eval(at(0))
	l.down = true
	h.add(at(1), map[string]float64{`spend{m="m1"}`: 0.6})
	h.expect("nothing announced while the ledger is down", h.eval(at(1)))
	l.down = false
	h.add(at(2), map[string]float64{`spend{m="m1"}`: 0.6})
	h.expect("announced once it is back", h.eval(at(2)), `{a="Budget", m="m1", period_start="2026-11-22T10:00:00Z", step="0.5"} firing`)
	h.add(at(3), map[string]float64{`spend{m="m1"}`: 0.6})
	h.expect("and only once", h.eval(at(3)))
}
