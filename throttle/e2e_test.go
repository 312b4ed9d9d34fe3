package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/store"
)

func actions(as []store.ThrottleAudit) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Action+":"+a.Result)
	}
	return out
}

func decision(t *testing.T, a store.ThrottleAudit) AuditDecision {
	t.Helper()
	var d AuditDecision
	if err := json.Unmarshal(a.Decision, &d); err != nil {
		t.Fatalf("audit decision %s: %v", a.Decision, err)
	}
	return d
}

// TestSpikeThrottledAndReleased is the use case end to end: a cpu-spike
// is throttled by the evaluation that sees its third anomalous sample,
// the sim's CPU falls under the throttle, and once it stayed under 0.7
// for the stable window the limit is restored.
func TestSpikeThrottledAndReleased(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	for i := 1; i <= 2; i++ {
		if evs := h.step(); len(evs) != 0 {
			t.Fatalf("sample %d fired: %+v", i, evs)
		}
		if n := len(h.front.patches()); n != 0 {
			t.Fatalf("%d PATCHes after %d anomalous samples", n, i)
		}
	}
	decidedAt := h.clk.Now().Add(simTick)
	if evs := h.step(); len(evs) != 1 || !evs[0].Firing || evs[0].Value <= 0.8 {
		t.Fatalf("the third sample sent %+v", evs)
	}
	// Decided, applied and verified within that evaluation's Observe.
	keys := h.front.patches()
	th, ok := h.simThrottle(t1p1i1)
	if len(keys) != 1 || !ok || th.MaxConcurrency != 32 || th.PreviousMaxConcurrency != 64 || th.IdempotencyKey != keys[0] {
		t.Fatalf("after the third sample: PATCHes %v, sim throttle %+v", keys, th)
	}
	act, _ := h.active(t1p1i1)
	if act.State != StateThrottled || act.ID == 0 || act.MaxConcurrency != 32 || act.PreviousMaxConcurrency != 64 ||
		!act.DecidedAt.Equal(decidedAt) || !act.ExpiresAt.Equal(decidedAt.Add(10*time.Minute)) {
		t.Fatalf("active %+v", act)
	}
	if n := h.metric("gatewarden_throttle_active"); n != 1 {
		t.Fatalf("gatewarden_throttle_active = %g", n)
	}

	// The throttle halves the sim's CPU from its next step.
	h.step()
	if cpu := h.cpu(t1p1i1); cpu > 0.5 {
		t.Fatalf("CPU %g under the throttle", cpu)
	}
	lowSince := h.clk.Now()
	if act, _ := h.active(t1p1i1); !act.LowSince.Equal(lowSince) {
		t.Fatalf("pending release not started: %+v", act)
	}
	// The spike ends while throttled; the stable window (2m) is not over
	// before 2 minutes under 0.7.
	h.sim.StopScenario(0)
	for h.clk.Now().Before(lowSince.Add(2*time.Minute - simTick)) {
		h.step()
		if _, ok := h.simThrottle(t1p1i1); !ok {
			t.Fatalf("released at %s, before the stable window", h.clk.Now().Sub(lowSince))
		}
	}
	h.step()
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatalf("still throttled %s after CPU recovered", h.clk.Now().Sub(lowSince))
	}
	if keys := h.front.patches(); len(keys) != 2 || keys[1] == keys[0] {
		t.Fatalf("PATCHes %v: want the throttle and one release with its own key", keys)
	}
	h.step()
	if cpu, mc, _ := h.sampler.MaxConcurrency(context.Background(), t1p1i1); h.cpu(t1p1i1) >= 0.7 || cpu != 64 || !mc {
		t.Fatalf("after the release: CPU %g, max_concurrency %g", h.cpu(t1p1i1), cpu)
	}
	if _, ok := h.active(t1p1i1); ok || h.metric("gatewarden_throttle_active") != 0 {
		t.Fatal("the released throttle is still active")
	}

	// Audit: the decision, each call and its verification.
	want := []string{"decide:throttle", "apply:ok", "verify:ok", "release:ok", "verify:ok"}
	as := h.audits(t1p1i1)
	if got := actions(as); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit %v, want %v", got, want)
	}
	d := decision(t, as[0])
	if d.ThrottleID != act.ID || d.MaxConcurrency != 32 || d.Previous != 64 || d.Actor != "auto" ||
		!strings.Contains(d.Reason, "PluginCPUHigh") || d.Key != keys[0] {
		t.Fatalf("decision %+v", d)
	}
	if d := decision(t, as[1]); d.Attempt != 1 || d.LatencySeconds <= 0 {
		t.Fatalf("attempt %+v", d)
	}
	row, err := h.st.GetThrottle(context.Background(), act.ID)
	if err != nil || row.State != store.ThrottleReleased || row.ReleaseReason != "recovered" || row.ReleasedBy != "auto" {
		t.Fatalf("stored %+v %v", row, err)
	}

	// Alerts: AUTO_THROTTLED firing then resolved, and RECOVERED.
	at := h.notes.with(StatusAutoThrottled, t1p1i1)
	if len(at) != 2 || !at[0].EndsAt.Equal(act.ExpiresAt) || !at[1].EndsAt.Equal(row.ReleasedAt) ||
		at[0].Labels["severity"] != "warning" || at[0].Labels["alertname"] != AlertName ||
		at[0].Annotations["title_zh"] != "CPU 异常自动限流" || !strings.Contains(at[0].Annotations["summary"], "CPU anomaly auto-throttle") {
		t.Fatalf("AUTO_THROTTLED notices %+v", at)
	}
	if rec := h.notes.with(StatusRecovered, t1p1i1); len(rec) != 1 || rec[0].Labels["severity"] != "info" {
		t.Fatalf("RECOVERED notices %+v", rec)
	}
	if n := h.notes.with(StatusFailed, Instance{}); len(n) != 0 {
		t.Fatalf("FAILED notices %+v", n)
	}
	for name, want := range map[string]float64{
		"gatewarden_throttle_trigger_total":     1,
		"gatewarden_throttle_success_total":     2,
		"gatewarden_throttle_failure_total":     0,
		"gatewarden_throttle_execution_seconds": 1,
		"gatewarden_throttle_mttr_seconds":      1,
	} {
		if got := h.metric(name); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
}

// TestExemptAlertOnly: an exempt instance is alerted on once, never
// throttled, and its alert resolves with the anomaly.
func TestExemptAlertOnly(t *testing.T) {
	h := newHarness(t, setup{policy: func(p *config.ThrottlePolicy) {
		p.Exempt = []config.ThrottleMatch{{TenantID: "t1", PluginID: "*-plugin1"}}
	}})
	h.spike(t1p1i1, t2p1i1)
	h.steps(3 + 7) // fires, then a minute of re-sends
	if th, ok := h.simThrottle(t1p1i1); ok {
		t.Fatalf("exempt instance throttled: %+v", th)
	}
	if _, ok := h.simThrottle(t2p1i1); !ok {
		t.Fatal("the other instance was not throttled")
	}
	// Raised once, re-sent while open (valid for openValidity each time).
	only := h.notes.with(StatusAlertOnly, t1p1i1)
	if len(only) == 0 || only[0].Annotations["reason"] != "exempt" || only[0].EndsAt.Sub(only[0].StartsAt) != openValidity {
		t.Fatalf("ALERT_ONLY notices %+v", only)
	}
	for _, n := range only[1:] {
		if !n.StartsAt.Equal(only[0].StartsAt) || !n.EndsAt.After(only[0].EndsAt) {
			t.Fatalf("a re-send is not the same alert made valid longer: %+v", only)
		}
	}
	if got := actions(h.audits(t1p1i1)); strings.Join(got, " ") != "decide:exempt" {
		t.Fatalf("audit %v", got)
	}
	if n := h.metric("gatewarden_throttle_trigger_total", "decision", "exempt"); n != 1 {
		t.Fatalf("exempt decisions %g", n)
	}
	h.sim.StopScenario(0)
	h.steps(3)
	after := h.notes.with(StatusAlertOnly, t1p1i1)
	if last := after[len(after)-1]; len(after) != len(only)+1 || !last.EndsAt.Before(only[len(only)-1].EndsAt) {
		t.Fatalf("ALERT_ONLY not resolved with the anomaly: %+v", after)
	}
}

// TestDryRun decides, audits and alerts like a real run, calls nothing,
// and counts against the blast radius as the real run would.
func TestDryRun(t *testing.T) {
	h := newHarness(t, setup{policy: func(p *config.ThrottlePolicy) {
		p.DryRun = true
		p.BlastRadius.MaxInstances = 1
	}})
	h.spike(t1p1i1, t2p1i1)
	h.steps(4)
	if n := len(h.front.patches()); n != 0 {
		t.Fatalf("dry run sent %d PATCHes", n)
	}
	if cpu := h.cpu(t1p1i1); cpu < 0.9 {
		t.Fatalf("dry run changed the CPU: %g", cpu)
	}
	at := h.notes.with(StatusAutoThrottled, t1p1i1)
	if len(at) != 1 || at[0].Labels["dry_run"] != "true" || at[0].Annotations["max_concurrency"] != "32" ||
		!strings.Contains(at[0].Annotations["summary"], "dry run") {
		t.Fatalf("dry-run notices %+v", at)
	}
	as := h.audits(t1p1i1)
	if d := decision(t, as[0]); len(as) != 1 || as[0].Result != "dry_run" || !d.DryRun || d.MaxConcurrency != 32 || d.Previous != 64 {
		t.Fatalf("dry-run audit %v %+v", actions(as), d)
	}
	if got := actions(h.audits(t2p1i1)); strings.Join(got, " ") != "decide:blast_radius" {
		t.Fatalf("the second instance under a cap of 1: %v", got)
	}
	act := h.ctl.Active()
	if len(act) != 2 || !act[0].DryRun || act[0].State != StateThrottled || act[1].State != StateDetecting {
		t.Fatalf("active %+v", act)
	}
	// Turning dry_run off decides the anomaly again, for real.
	p := h.ctl.Policy().Config()
	p.DryRun = false
	pol, err := NewPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	h.ctl.SetPolicy(pol)
	h.steps(6) // the next re-send
	if _, ok := h.simThrottle(t1p1i1); !ok {
		t.Fatal("not throttled once dry_run was turned off")
	}
}

// TestManualRelease: an operator's release restores the limit at once
// and keeps the controller off the instance while its alert fires.
func TestManualRelease(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	h.steps(3)
	act, ok := h.active(t1p1i1)
	if !ok {
		t.Fatal("not throttled")
	}
	if err := h.ctl.Release(context.Background(), act.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("still throttled at the gateway after the release")
	}
	h.steps(12) // two minutes of the spike firing again
	if n := len(h.front.patches()); n != 2 {
		t.Fatalf("%d PATCHes: the controller throttled again after a manual release", n)
	}
	as := h.audits(t1p1i1)
	if got := actions(as); strings.Join(got, " ") != "decide:throttle apply:ok verify:ok release_requested:accepted release:ok verify:ok" {
		t.Fatalf("audit %v", got)
	}
	if d := decision(t, as[4]); d.Actor != "alice" {
		t.Fatalf("release attempt by %q", d.Actor)
	}
	row, _ := h.st.GetThrottle(context.Background(), act.ID)
	if row.ReleaseReason != "manual" || row.ReleasedBy != "alice" {
		t.Fatalf("stored %+v", row)
	}
	if rec := h.notes.with(StatusRecovered, t1p1i1); len(rec) != 1 || !strings.Contains(rec[0].Annotations["summary_en"], "released by alice") {
		t.Fatalf("RECOVERED %+v", rec)
	}
	if err := h.ctl.Release(context.Background(), act.ID, "alice"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("releasing a released throttle: %v", err)
	}
	if err := h.ctl.Release(context.Background(), 4242, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("releasing an unknown throttle: %v", err)
	}
	// Once the anomaly resolved, a new one is throttled again.
	h.sim.StopScenario(0)
	h.steps(4)
	h.spike(t1p1i1)
	h.steps(3)
	if _, ok := h.simThrottle(t1p1i1); !ok {
		t.Fatal("a new anomaly after the manual release was not throttled")
	}
}

// TestFeedbackGovernance: the fourth false positive of a day raises the
// governance alert, once.
func TestFeedbackGovernance(t *testing.T) {
	h := newHarness(t, setup{})
	insts := []Instance{t1p1i1, t1p1i2, t2p1i1, {"t2", "t2-plugin2", "i2"}, {"t1", "t1-plugin2", "i1"}}
	h.spike(insts...)
	h.steps(3)
	ctx := context.Background()
	for i, inst := range insts {
		act, ok := h.active(inst)
		if !ok {
			t.Fatalf("%s not throttled", inst)
		}
		th, err := h.ctl.Feedback(ctx, act.ID, "bob", true)
		if err != nil || !th.FalsePositive || th.FeedbackBy != "bob" {
			t.Fatalf("feedback: %+v %v", th, err)
		}
		if g := h.notes.with(StatusGovernance, Instance{}); len(g) != max(0, min(1, i-2)) {
			t.Fatalf("after %d false positives: %d governance alerts", i+1, len(g))
		}
	}
	g := h.notes.with(StatusGovernance, Instance{})[0]
	if g.Labels["alertname"] != GovernanceAlertName || g.Labels["instance_id"] != "" || g.Annotations["false_positives"] != "4" {
		t.Fatalf("governance alert %+v", g)
	}
	act, _ := h.active(t1p1i1)
	if th, err := h.ctl.Feedback(ctx, act.ID, "bob", false); err != nil || th.FalsePositive {
		t.Fatalf("taking feedback back: %+v %v", th, err)
	}
	if n, _ := h.st.CountFalsePositives(ctx, start); n != 4 {
		t.Fatalf("%d false positives stored", n)
	}
	if _, err := h.ctl.Feedback(ctx, 4242, "bob", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("feedback on an unknown throttle: %v", err)
	}
	if got := actions(h.audits(t1p1i1)); got[len(got)-1] != "feedback:confirmed" || got[len(got)-2] != "feedback:false_positive" {
		t.Fatalf("audit %v", got)
	}
}

// TestRestartWhileThrottled: a new controller on the same store takes
// over the throttle, its TTL and its pending release, and applies nothing
// twice.
func TestRestartWhileThrottled(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	h.steps(4) // throttled, and the stable window started
	before, _ := h.active(t1p1i1)
	if before.LowSince.IsZero() {
		t.Fatalf("no pending release before the restart: %+v", before)
	}
	h.ctl.Close()
	h.start()
	after, ok := h.active(t1p1i1)
	if !ok || after.ID != before.ID || !after.ExpiresAt.Equal(before.ExpiresAt) || !after.LowSince.Equal(before.LowSince) ||
		after.State != StateThrottled || after.MaxConcurrency != 32 {
		t.Fatalf("after the restart %+v, before %+v", after, before)
	}
	if n := len(h.front.patches()); n != 1 {
		t.Fatalf("the restart sent PATCHes: %d in all", n)
	}
	// The stable window goes on from where it was: released 2m after it began.
	h.sim.StopScenario(0)
	for h.clk.Now().Before(before.LowSince.Add(2 * time.Minute)) {
		h.step()
	}
	if _, ok := h.simThrottle(t1p1i1); ok || len(h.front.patches()) != 2 {
		t.Fatalf("not released by the restarted controller; PATCHes %v", h.front.patches())
	}
	if at := h.notes.with(StatusAutoThrottled, t1p1i1); len(at) != 1 || at[0].EndsAt.After(h.clk.Now()) {
		t.Fatalf("the restarted controller did not resolve AUTO_THROTTLED: %+v", at)
	}
}

// TestRestartMidCall: the process stops while a PATCH is in flight (the
// gateway applied it, its answer never came). The restarted controller
// repeats the call with the stored key: the gateway replays, applied once.
func TestRestartMidCall(t *testing.T) {
	h := newHarness(t, setup{opts: func(o *Options) { o.Timeout, o.DrainTimeout = 10*time.Second, 200*time.Millisecond }})
	h.front.delay, h.front.hold = 1, time.Minute
	h.spike(t1p1i1)
	h.steps(2)
	// Observe without waiting for the call to settle.
	h.sim.Step(h.clk.Advance(simTick))
	h.sampler.scrape(t)
	h.ctl.Observe(context.Background(), h.det.eval(h.sampler.cpus(), h.clk.Now()))
	for len(h.front.patches()) == 0 {
		time.Sleep(time.Millisecond)
	}
	h.ctl.Close() // gives up on the held answer after DrainTimeout
	rows, err := h.st.ListActiveThrottles(context.Background())
	if err != nil || len(rows) != 1 || rows[0].State != store.ThrottleThrottling {
		t.Fatalf("stored before the restart: %+v %v", rows, err)
	}
	h.start()
	h.drain()
	keys := h.front.patches()
	th, ok := h.simThrottle(t1p1i1)
	if len(keys) != 2 || keys[0] != keys[1] || keys[0] != rows[0].OpKey || !ok || th.IdempotencyKey != keys[0] {
		t.Fatalf("PATCH keys %v, stored key %s, sim %+v", keys, rows[0].OpKey, th)
	}
	as := h.audits(t1p1i1)
	if d := decision(t, as[len(as)-2]); !d.Replayed {
		t.Fatalf("the repeated call was not a replay: %v %+v", actions(as), d)
	}
	if act, _ := h.active(t1p1i1); act.State != StateThrottled {
		t.Fatalf("after the restart %+v", act)
	}
}

// TestNoRethrottleOnResendAfterRelease: with a stable window shorter than
// the rule's keep_firing_for, the throttle is released while the alert
// still fires; its re-sends, with CPU low, are no new anomaly.
func TestNoRethrottleOnResendAfterRelease(t *testing.T) {
	h := newHarness(t, setup{keepFiring: true, policy: func(p *config.ThrottlePolicy) { p.StableWindow = config.Duration(20 * time.Second) }})
	sc, err := h.sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike",
		Target: gatewaysim.Target{TenantID: t1p1i1.TenantID, PluginID: t1p1i1.PluginID, InstanceID: t1p1i1.InstanceID}})
	if err != nil {
		t.Fatal(err)
	}
	h.steps(3)
	if n := len(h.front.patches()); n != 1 {
		t.Fatalf("%d PATCHes after the third anomalous sample", n)
	}
	h.sim.StopScenario(sc.ID) // the cause is gone: CPU stays low after the release
	for i := 0; len(h.front.patches()) < 2; i++ {
		if i > 30 {
			t.Fatalf("not released within 5 minutes: PATCHes %v", h.front.patches())
		}
		h.step()
	}
	h.steps(12) // two minutes: the alert keeps firing for one, and is re-sent
	if keys := h.front.patches(); len(keys) != 2 {
		t.Fatalf("PATCHes %v: throttled again on a re-send after recovering", keys)
	}
}
