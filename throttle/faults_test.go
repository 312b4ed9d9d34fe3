package throttle

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/store"
)

// TestGateway500Twice: two 500s, then the retry goes through. The second
// consecutive failure raises the level-1 alert at once; the success
// resolves it.
func TestGateway500Twice(t *testing.T) {
	h := newHarness(t, setup{})
	h.front.fail, h.front.failWith = 2, http.StatusInternalServerError
	h.spike(t1p1i1)
	h.steps(3)
	keys := h.front.patches()
	if len(keys) != 3 || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("PATCH keys %v: want three attempts with one key", keys)
	}
	if th, ok := h.simThrottle(t1p1i1); !ok || th.IdempotencyKey != keys[0] {
		t.Fatalf("sim %+v", th)
	}
	want := "decide:throttle apply:unavailable apply:unavailable apply:ok verify:ok"
	as := h.audits(t1p1i1)
	if got := strings.Join(actions(as), " "); got != want {
		t.Fatalf("audit %s, want %s", got, want)
	}
	if d := decision(t, as[2]); d.Attempt != 2 || !strings.Contains(as[2].Error, "500") {
		t.Fatalf("second attempt %+v %q", d, as[2].Error)
	}
	failed := h.notes.with(StatusFailed, t1p1i1)
	if len(failed) != 2 || failed[0].Labels["severity"] != "critical" || failed[0].EndsAt.Sub(failed[0].StartsAt) != openValidity ||
		!failed[1].EndsAt.Before(failed[0].EndsAt) ||
		!strings.Contains(failed[0].Annotations["summary_en"], "2 consecutive attempts failed") {
		t.Fatalf("FAILED notices %+v", failed)
	}
	if n := h.metric("gatewarden_throttle_failure_total"); n != 0 {
		t.Fatalf("the operation succeeded, yet %g failures counted", n)
	}
}

// TestGatewayKeepsFailing: every attempt fails: the decision fails with a
// level-1 alert, and the next alert re-send after RetryFailedAfter decides
// anew, with a new key.
func TestGatewayKeepsFailing(t *testing.T) {
	h := newHarness(t, setup{})
	h.front.fail, h.front.failWith = 3, http.StatusServiceUnavailable
	h.spike(t1p1i1)
	h.steps(3)
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("throttled through a failing gateway")
	}
	rows, _, _ := h.st.ListThrottles(context.Background(), store.ThrottleFilter{})
	if len(rows) != 1 || rows[0].State != store.ThrottleFailed || !strings.Contains(rows[0].LastError, "503") {
		t.Fatalf("stored %+v", rows)
	}
	failed := h.notes.with(StatusFailed, t1p1i1)
	if len(failed) != 2 || failed[1].Labels["severity"] != "critical" || failed[1].Annotations["reason"] != "unavailable" {
		t.Fatalf("FAILED notices %+v", failed)
	}
	if n := h.metric("gatewarden_throttle_failure_total", "op", "apply", "reason", "unavailable"); n != 1 {
		t.Fatalf("failures %g", n)
	}
	h.steps(6) // the evaluator's re-send, a minute later
	keys := h.front.patches()
	if _, ok := h.simThrottle(t1p1i1); !ok || len(keys) != 4 || keys[3] == keys[0] {
		t.Fatalf("not retried as a new decision: keys %v", keys)
	}
	if f := h.notes.with(StatusFailed, t1p1i1); !f[len(f)-1].EndsAt.Equal(h.clk.Now()) {
		t.Fatalf("FAILED not resolved by the success: %+v", f[len(f)-1])
	}
}

// TestGatewaySlow: the first answer comes after the timeout, though the
// gateway applied the call. The retry carries the same key, the gateway
// replays its answer, and the throttle is applied once.
func TestGatewaySlow(t *testing.T) {
	h := newHarness(t, setup{opts: func(o *Options) { o.Timeout = 100 * time.Millisecond }})
	h.front.delay, h.front.hold = 1, 10*time.Second
	h.spike(t1p1i1)
	h.steps(3)
	keys := h.front.patches()
	if len(keys) != 2 || keys[0] != keys[1] {
		t.Fatalf("PATCH keys %v", keys)
	}
	as := h.audits(t1p1i1)
	if got := strings.Join(actions(as), " "); got != "decide:throttle apply:timeout apply:ok verify:ok" {
		t.Fatalf("audit %s", got)
	}
	if d := decision(t, as[2]); !d.Replayed || d.Attempt != 2 {
		t.Fatalf("the retry was not a replay of the first: %+v", d)
	}
	if th, ok := h.simThrottle(t1p1i1); !ok || th.IdempotencyKey != keys[0] || th.PreviousMaxConcurrency != 64 {
		t.Fatalf("applied %+v", th)
	}
	// The sim answered 200 twice, the second from its idempotency store.
	h.sampler.scrape(t)
	if n := h.simCounter("gatewaysim_throttle_requests_total"); n != 2 {
		t.Fatalf("the sim answered %g PATCHes", n)
	}
}

// simCounter reads a gatewaysim_* series from the sim's /metrics.
func (h *harness) simCounter(name string) float64 {
	var sum float64
	for _, fam := range scrapeFamilies(h.t, h.sim) {
		if fam.GetName() == name {
			for _, m := range fam.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestUnsupported: a plugin without the throttle API (501) and an instance
// the gateway does not know (404) get one attempt each and a critical
// manual-handling alert, and are not tried again while the anomaly lasts.
func TestUnsupported(t *testing.T) {
	ghost := Instance{"t9", "t9-plugin1", "i1"}
	h := newHarness(t, setup{
		sim: func(o *gatewaysim.Options) { o.ThrottleUnsupported = []string{"t2-*"} },
		policy: func(p *config.ThrottlePolicy) {
			// No max_concurrency sample exists for the ghost: an absolute
			// limit lets the call go out.
			p.Overrides = []config.ThrottleOverride{{ThrottleMatch: config.ThrottleMatch{TenantID: "t9"}, Action: config.ThrottleAction{MaxConcurrency: 8}}}
		},
	})
	h.spike(t2p1i1)
	h.steps(2)
	h.sim.Step(h.clk.Advance(simTick))
	h.sampler.scrape(t)
	evs := append(h.det.eval(h.sampler.cpus(), h.clk.Now()), Event{Rule: config.DefaultThrottleRule, Instance: ghost, Firing: true, Value: 0.97})
	h.ctl.Observe(context.Background(), evs)
	h.drain()
	if n := len(h.front.patches()); n != 2 {
		t.Fatalf("%d PATCHes, want one per instance", n)
	}
	for inst, code := range map[Instance]string{t2p1i1: "501", ghost: "404"} {
		f := h.notes.with(StatusFailed, inst)
		if len(f) != 1 || f[0].Labels["severity"] != "critical" || f[0].Annotations["reason"] != "unsupported" ||
			!strings.Contains(f[0].Annotations["summary_en"], "manual handling required") || !strings.Contains(f[0].Annotations["summary_en"], code) ||
			!strings.Contains(f[0].Annotations["summary_zh"], "需要人工处理") {
			t.Fatalf("%s: FAILED %+v", inst, f)
		}
		if got := strings.Join(actions(h.audits(inst)), " "); got != "decide:throttle apply:unsupported apply:failed" {
			t.Fatalf("%s: audit %s", inst, got)
		}
	}
	h.steps(12) // re-sends
	if n := len(h.front.patches()); n != 2 {
		t.Fatalf("an unsupported plugin was tried again: %d PATCHes", n)
	}
}

// TestStepAndEscalate: a spike at 1.0 under 0.75 of the limit stays at
// 0.75, over the recovery threshold: after escalate_after the limit steps
// down (×0.99, still over), and at the last step a manual-handling alert
// follows.
func TestStepAndEscalate(t *testing.T) {
	h := newHarness(t, setup{policy: func(p *config.ThrottlePolicy) {
		p.Action = config.ThrottleAction{MaxConcurrencyRatio: 0.75, StepRatio: 0.99}
		p.MaxSteps = 3
	}})
	h.spikeAt(1, t1p1i1)
	h.steps(3)
	if th, _ := h.simThrottle(t1p1i1); th.MaxConcurrency != 48 {
		t.Fatalf("first step %+v", th)
	}
	h.steps(12) // escalate_after 2m
	th, _ := h.simThrottle(t1p1i1)
	act, _ := h.active(t1p1i1)
	if th.MaxConcurrency != 47 || act.Step != 2 || act.MaxConcurrency != 47 || act.PreviousMaxConcurrency != 64 {
		t.Fatalf("second step: sim %+v, active %+v", th, act)
	}
	h.steps(12)
	if th, _ := h.simThrottle(t1p1i1); th.MaxConcurrency != 46 {
		t.Fatalf("third step %+v", th)
	}
	if f := h.notes.with(StatusFailed, t1p1i1); len(f) != 0 {
		t.Fatalf("escalated before the last step: %+v", f)
	}
	h.steps(12)
	f := h.notes.with(StatusFailed, t1p1i1)
	if len(f) != 1 || f[0].Annotations["reason"] != "escalated" || f[0].Labels["severity"] != "critical" {
		t.Fatalf("no manual-handling alert at the last step: %+v", f)
	}
	if act, _ := h.active(t1p1i1); !act.Escalated || act.Step != 3 {
		t.Fatalf("active %+v", act)
	}
	if n := h.metric("gatewarden_throttle_trigger_total", "decision", "step"); n != 2 {
		t.Fatalf("%g steps", n)
	}
	// The release restores the limit from before the first step.
	h.sim.StopScenario(0)
	h.steps(14)
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("not released")
	}
	if mc, _, _ := h.sampler.MaxConcurrency(context.Background(), t1p1i1); mc != 64 {
		t.Fatalf("released to %g", mc)
	}
}

// TestRenew: while the stable window is longer than what is left of the
// TTL, the throttle is renewed before it lapses, with a new key.
func TestRenew(t *testing.T) {
	h := newHarness(t, setup{policy: func(p *config.ThrottlePolicy) {
		p.TTL, p.RenewBefore = config.Duration(3*time.Minute), config.Duration(time.Minute)
		p.StableWindow = config.Duration(5 * time.Minute)
	}})
	h.spike(t1p1i1)
	h.steps(3)
	first, _ := h.active(t1p1i1)
	h.steps(12) // 2m: one minute before expiry
	keys := h.front.patches()
	if len(keys) != 2 || keys[1] == keys[0] {
		t.Fatalf("PATCHes %v: want a renewal", keys)
	}
	act, _ := h.active(t1p1i1)
	th, _ := h.simThrottle(t1p1i1)
	if !act.ExpiresAt.After(first.ExpiresAt) || th.IdempotencyKey != keys[1] || th.MaxConcurrency != 32 ||
		!act.LowSince.Equal(first.DecidedAt.Add(simTick)) {
		t.Fatalf("renewed %+v (was %+v), sim %+v", act, first, th)
	}
	if at := h.notes.with(StatusAutoThrottled, t1p1i1); len(at) != 2 || !at[1].EndsAt.Equal(act.ExpiresAt) {
		t.Fatalf("AUTO_THROTTLED not re-sent with the new end: %+v", at)
	}
	// Released once stable for 5m, previous limit restored, not the one
	// the renewal replaced.
	h.steps(20)
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("not released")
	}
	if mc, _, _ := h.sampler.MaxConcurrency(context.Background(), t1p1i1); mc != 64 {
		t.Fatalf("released to %g", mc)
	}
}

// TestExpiredWhileDown: a throttle whose TTL lapsed while gatewarden was
// down is noted as released at Load, and the anomaly, still there, is
// throttled again by the next alert.
func TestExpiredWhileDown(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	h.steps(3)
	act, _ := h.active(t1p1i1)
	h.ctl.Close()
	for range 61 { // 10 minutes and more of sim time without gatewarden
		h.sim.Step(h.clk.Advance(simTick))
	}
	h.start()
	h.drain()
	row, _ := h.st.GetThrottle(context.Background(), act.ID)
	if row.State != store.ThrottleReleased || row.ReleaseReason != "expired" || !row.ReleasedAt.Equal(act.ExpiresAt) {
		t.Fatalf("stored %+v", row)
	}
	h.steps(6)
	if th, ok := h.simThrottle(t1p1i1); !ok || th.IdempotencyKey == row.OpKey {
		t.Fatalf("the lasting anomaly was not throttled again: %+v", th)
	}
}
