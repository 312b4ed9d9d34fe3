package evaluator

import (
	"context"
	"testing"
	"time"
)

const plainRule = `groups:
  - name: g
    rules:
      - alert: High
        expr: x > 10
        for: 20s
        labels: {severity: warning}
`

func TestPrometheusStateMachine(t *testing.T) {
	h := newHarness(t, plainRule)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20, `x{i="b"}`: 1})
	h.expect("first hit is pending, nothing sent", h.eval(at(0)))
	h.expect("pending", h.states(), `{a="High", i="a", severity="warning"} pending`)
	h.add(at(1), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(1))
	h.add(at(2), map[string]float64{`x{i="a"}`: 20})
	h.expect("fires after for", h.eval(at(2)), `{a="High", i="a", severity="warning"} firing`)
	h.add(at(3), map[string]float64{`x{i="a"}`: 20})
	h.expect("not re-sent within the resend delay", h.eval(at(3)))
	h.add(at(4), map[string]float64{`x{i="a"}`: 1})
	h.expect("resolves at once without keep_firing_for", h.eval(at(4)), `{a="High", i="a", severity="warning"} resolved`)
	h.expect("nothing active", h.states())
}

func TestFiringAlertsAreResent(t *testing.T) {
	h := newHarness(t, plainRule)
	h.resend = time.Minute
	h.m = h.manager()
	const firing = `{a="High", i="a", severity="warning"} firing`
	for i := 0; i <= 9; i++ {
		h.add(at(i), map[string]float64{`x{i="a"}`: 20})
		got := h.eval(at(i))
		switch i {
		case 2, 8: // fired at 20 s, re-sent a minute later
			h.expect("sent", got, firing)
		default:
			h.expect("not sent", got)
		}
	}
}

func TestPendingThatStopsIsForgotten(t *testing.T) {
	h := newHarness(t, plainRule)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(0))
	h.add(at(1), map[string]float64{`x{i="a"}`: 1})
	h.expect("no resolution for an alert that never fired", h.eval(at(1)))
	h.add(at(2), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(2))
	h.add(at(3), map[string]float64{`x{i="a"}`: 20})
	h.expect("for counts from the new hit", h.eval(at(3)))
}

const cpuRule = `groups:
  - name: g
    rules:
      - alert: CPU
        expr: cpu
        condition: {function: all, window: "#3", op: ">", value: 0.8}
        recover: {function: all, window: "#3", op: "<", value: 0.7}
        keep_firing_for: 30s
`

func TestWindowObservationAndHysteresis(t *testing.T) {
	h := newHarness(t, cpuRule)
	step := func(i int, v float64) []string {
		h.add(at(i), map[string]float64{`cpu{i="a"}`: v})
		return h.eval(at(i))
	}
	const firing, resolved = `{a="CPU", i="a"} firing`, `{a="CPU", i="a"} resolved`
	h.expect("one point: not judged", step(0, 0.95))
	h.expect("two points: not judged", step(1, 0.95))
	h.expect("third point above: fires in the same evaluation", step(2, 0.95), firing)
	h.expect("below 0.8 but not below 0.7: hysteresis keeps firing", step(3, 0.75))
	h.expect("", step(4, 0.6))
	h.expect("", step(5, 0.6))
	h.expect("three points below 0.7: the observation window starts", step(6, 0.6))
	h.expect("a hit inside the window resets it", step(7, 0.9))
	h.expect("", step(8, 0.9))
	h.expect("", step(9, 0.6))
	h.expect("", step(10, 0.6))
	h.expect("window starts again", step(11, 0.6))
	h.expect("", step(12, 0.6))
	h.expect("", step(13, 0.6))
	h.expect("clear for the whole 30s window: resolved", step(14, 0.6), resolved)
}

const levelRule = `groups:
  - name: g
    rules:
      - alert: Spike
        expr: rpm
        condition: {function: max, window: "#1", op: ">", value: 100}
        escalate: 2
`

func TestLevelsEscalateAndChangeNotifies(t *testing.T) {
	h := newHarness(t, levelRule)
	step := func(i int, v float64) []string {
		h.add(at(i), map[string]float64{`rpm{m="m1"}`: v})
		return h.eval(at(i))
	}
	h.expect("warning above the value", step(0, 150), `{a="Spike", m="m1", severity="warning"} firing`)
	h.expect("critical at twice the value: the warning resolves, critical fires", step(1, 250),
		`{a="Spike", m="m1", severity="critical"} firing`, `{a="Spike", m="m1", severity="warning"} resolved`)
	h.expect("back to warning", step(2, 150),
		`{a="Spike", m="m1", severity="critical"} resolved`, `{a="Spike", m="m1", severity="warning"} firing`)
	h.expect("below every level", step(3, 50), `{a="Spike", m="m1", severity="warning"} resolved`)
}

// Two ways to say it: a nodata block beside a condition of its own, and
// nodata as the condition.
const noDataRule = `groups:
  - name: g
    rules:
      - alert: Usage
        expr: sum by (m) (req)
        condition: {function: max, window: "#1", op: ">", value: 1e9}
        nodata: {for: 1m, severity: critical}
      - alert: Silent
        expr: sum by (m) (req)
        condition: {function: nodata, window: 1m}
`

func TestNoDataPerSeries(t *testing.T) {
	h := newHarness(t, noDataRule)
	for i := 0; i <= 3; i++ {
		h.add(at(i), map[string]float64{`req{m="m1"}`: float64(i), `req{m="m2"}`: float64(i)})
		h.expect("both present", h.eval(at(i)))
	}
	// m2 stops. The lookback keeps it in PromQL for 5 minutes, so for the
	// test the series ends with a staleness marker, as a scrape would write.
	h.add(at(4), map[string]float64{`req{m="m1"}`: 4, `req{m="m2"}`: staleNaN})
	for i := 4; i < 9; i++ {
		h.add(at(i+1), map[string]float64{`req{m="m1"}`: float64(i)})
		h.expect("m2 seen less than 1m ago", h.eval(at(i)))
	}
	h.add(at(10), map[string]float64{`req{m="m1"}`: 11})
	h.expect("m2 last seen 1m ago: its own nodata alerts, m1 untouched", h.eval(at(9)),
		`{a="Silent", m="m2"} firing`, `{a="Usage", m="m2", nodata="true", severity="critical"} firing`)
	h.add(at(12), map[string]float64{`req{m="m1"}`: 12, `req{m="m2"}`: 12})
	h.expect("data back: resolved", h.eval(at(12)),
		`{a="Silent", m="m2"} resolved`, `{a="Usage", m="m2", nodata="true", severity="critical"} resolved`)
}

const stepRule = `groups:
  - name: g
    rules:
      - alert: Budget
        expr: spend
        steps: [0.5, 0.75, 0.9, 1.0]
`

func TestStepsOncePerTargetEvenWhenJumping(t *testing.T) {
	h := newHarness(t, stepRule)
	step := func(i int, m1, m2 float64) []string {
		h.add(at(i), map[string]float64{`spend{m="m1"}`: m1, `spend{m="m2"}`: m2})
		return h.eval(at(i))
	}
	h.expect("below every step", step(0, 0.4, 0.1))
	h.expect("m1 crosses 50 %", step(1, 0.6, 0.1), `{a="Budget", m="m1", period_start="2026-11-22T10:00:00Z", step="0.5"} firing`)
	h.expect("no repeat", step(2, 0.62, 0.1))
	h.expect("m1 jumps past 75 and 90 %, m2 past 50 and 75 % in the same evaluation", step(3, 0.95, 0.8),
		`{a="Budget", m="m1", period_start="2026-11-22T10:00:00Z", step="0.75"} firing`, `{a="Budget", m="m1", period_start="2026-11-22T10:00:00Z", step="0.9"} firing`,
		`{a="Budget", m="m2", period_start="2026-11-22T10:00:00Z", step="0.5"} firing`, `{a="Budget", m="m2", period_start="2026-11-22T10:00:00Z", step="0.75"} firing`)
	h.expect("no repeat for either", step(4, 0.96, 0.85))
	// A drop of the value starts a new period: old steps resolve, and the
	// next crossing is announced again.
	got := step(5, 0.1, 0.85)
	if len(got) != 3 {
		h.t.Errorf("m1's three steps resolve on the new period: %q", got)
	}
	// Its own alert: the period is a label, so the cooldown of the last
	// period's 0.5 cannot hold it back.
	h.expect("new period, new notice", step(6, 0.55, 0.86), `{a="Budget", m="m1", period_start="2026-11-22T10:00:50Z", step="0.5"} firing`)
}

func TestRestartKeepsState(t *testing.T) {
	h := newHarness(t, cpuRule+stepRuleGroup)
	for i := 0; i < 3; i++ {
		h.add(at(i), map[string]float64{`cpu{i="firing"}`: 0.95, `cpu{i="pending"}`: 0.1, `spend{m="m1"}`: 0.6})
		h.eval(at(i))
	}
	h.add(at(3), map[string]float64{`cpu{i="firing"}`: 0.95, `cpu{i="pending"}`: 0.9, `spend{m="m1"}`: 0.6})
	h.eval(at(3))
	h.add(at(4), map[string]float64{`cpu{i="firing"}`: 0.6, `cpu{i="pending"}`: 0.9, `spend{m="m1"}`: 0.6})
	h.eval(at(4))
	if err := h.m.save(); err != nil {
		t.Fatal(err)
	}

	// A new process: the snapshot brings back the window in progress, the
	// firing alert and the step already announced.
	h.m = h.manager()
	if err := h.m.restore(); err != nil {
		t.Fatal(err)
	}
	for _, g := range h.m.Groups() {
		h.m.claimRestored(g)
	}
	h.add(at(5), map[string]float64{`cpu{i="firing"}`: 0.6, `cpu{i="pending"}`: 0.9, `spend{m="m1"}`: 0.6})
	h.expect("the window carried over: the third point above fires; no re-send of the firing one, no step repeated",
		h.eval(at(5)), `{a="CPU", i="pending"} firing`)
	h.expect("the firing one kept firing through the restart", h.states(), `{a="Budget", m="m1", period_start="2026-11-22T10:00:00Z", step="0.5"} firing`, `{a="CPU", i="firing"} firing`, `{a="CPU", i="pending"} firing`)
}

const stepRuleGroup = `  - name: budget
    rules:
      - alert: Budget
        expr: spend
        steps: [0.5, 0.75, 0.9, 1.0]
`

var _ = context.Background

// TestAlertsLinkToTheirExpression: every alert sent carries Prometheus's
// generatorURL, the external URL's table view of the rule's expression,
// firing and resolved alike.
func TestAlertsLinkToTheirExpression(t *testing.T) {
	h := newHarness(t, plainRule)
	h.external = "https://gw.example.com:9095/watch"
	h.m = h.manager()
	want := "https://gw.example.com:9095/watch/graph?g0.expr=x+%3E+10&g0.tab=1"
	sent := 0
	for i, v := range []float64{20, 20, 20, 1} {
		h.add(at(i), map[string]float64{`x{i="a"}`: v})
		h.eval(at(i))
		sent += len(h.sent)
		for _, a := range h.sent {
			if a.GeneratorURL != want {
				t.Errorf("step %d: generatorURL %q, want %q", i, a.GeneratorURL, want)
			}
		}
	}
	if sent != 2 {
		t.Fatalf("%d alerts sent, want the firing one and its resolution", sent)
	}
}
