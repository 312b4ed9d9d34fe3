package throttle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
)

// orphanSetup makes every attempt of the first apply time out after the
// sim applied it: the decision is marked failed while the gateway holds
// the throttle, the orphan of issue 18.
func orphanSetup(orphans string) setup {
	return setup{opts: func(o *Options) { o.Timeout, o.Orphans = 50*time.Millisecond, orphans }}
}

func leaveOrphan(t *testing.T, h *harness) {
	t.Helper()
	h.front.delay, h.front.hold = 3, 10*time.Second
	h.spike(t1p1i1)
	h.steps(3)
	if _, ok := h.simThrottle(t1p1i1); !ok {
		t.Fatal("the sim did not apply the timed-out call")
	}
	if _, ok := h.active(t1p1i1); ok {
		t.Fatal("the timed-out apply is active: no orphan to find")
	}
}

func reconcile(t *testing.T, h *harness) Reconciliation {
	t.Helper()
	r, err := h.ctl.Reconcile(context.Background())
	if err != nil || !r.Supported {
		t.Fatalf("reconcile: %+v, %v", r, err)
	}
	h.drain()
	return r
}

// TestReconcileAdoptsOrphan: the orphan is adopted, then managed: released
// as usual once CPU recovers for the stable window.
func TestReconcileAdoptsOrphan(t *testing.T) {
	h := newHarness(t, orphanSetup(config.OrphanAdopt))
	leaveOrphan(t, h)
	r := reconcile(t, h)
	if len(r.Differences) != 1 || r.Differences[0].Kind != "orphan" || r.Differences[0].Action != "adopted" {
		t.Fatalf("differences %+v", r.Differences)
	}
	act, ok := h.active(t1p1i1)
	if !ok || act.State != StateThrottled || act.PreviousMaxConcurrency != 64 {
		t.Fatalf("adopted %+v %v", act, ok)
	}
	if h.metric("gatewarden_throttle_reconcile_differences_total", "kind", "orphan") != 1 {
		t.Fatal("the difference was not counted")
	}
	if got := actions(h.audits(t1p1i1)); got[len(got)-1] != "reconcile:orphan/adopted" {
		t.Fatalf("audit %v", got)
	}
	if again := reconcile(t, h); len(again.Differences) != 0 {
		t.Fatalf("a second reconcile found %+v", again.Differences)
	}
	h.sim.StopScenario(0)
	for i := 0; i < 20 && len(h.ctl.Active()) > 0; i++ {
		h.step()
	}
	if _, ok := h.simThrottle(t1p1i1); ok || len(h.ctl.Active()) != 0 {
		t.Fatal("the adopted throttle was not released after recovery")
	}
}

// TestReconcileReleasesOrphan: with orphans: release it goes at once.
func TestReconcileReleasesOrphan(t *testing.T) {
	h := newHarness(t, orphanSetup(config.OrphanRelease))
	leaveOrphan(t, h)
	r := reconcile(t, h)
	if len(r.Differences) != 1 || r.Differences[0].Action != "released" {
		t.Fatalf("differences %+v", r.Differences)
	}
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("the orphan is still in force at the sim")
	}
}

// restartSim replaces the sim with a fresh one, as a gateway restart that
// loses its throttles; the spike goes on if spiking.
func (h *harness) restartSim(spiking ...Instance) {
	h.t.Helper()
	so := gatewaysim.DefaultOptions()
	so.BurstsPerHour, so.Now, so.Tick = 0, h.clk.Now, simTick
	sim, err := gatewaysim.New(so, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.sim, h.front.next, h.sampler.sim = sim, sim.Handler(), sim
	h.spike(spiking...)
	h.step()
}

// TestReconcileMissing: a throttle the gateway lost is applied again while
// the anomaly lasts, and closed once it is over.
func TestReconcileMissing(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1, t2p1i1)
	h.steps(3)
	h.restartSim(t1p1i1) // t2's spike is over with the old sim
	r := reconcile(t, h)
	kinds := map[Instance]string{}
	for _, d := range r.Differences {
		kinds[d.Instance] = d.Kind + "/" + d.Action
	}
	if kinds[t1p1i1] != "missing/reapplied" || kinds[t2p1i1] != "missing/closed" || len(kinds) != 2 {
		t.Fatalf("differences %+v", r.Differences)
	}
	if _, ok := h.simThrottle(t1p1i1); !ok {
		t.Fatal("t1 was not applied again")
	}
	if _, ok := h.active(t2p1i1); ok {
		t.Fatal("t2 is still believed active")
	}
}

// TestReconcileLimitAndForeign: a limit changed at the gateway is set
// again; a throttle another client set is reported and left alone.
func TestReconcileLimitAndForeign(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	h.steps(3)
	gw := NewHTTPGatewayClient(h.srv.URL+config.DefaultThrottlePath, h.srv.Client())
	for _, req := range []Request{
		{Instance: t1p1i1, MaxConcurrency: 50, TTL: time.Hour, IdempotencyKey: "someone-else-1"},
		{Instance: t2p1i1, MaxConcurrency: 10, TTL: time.Hour, IdempotencyKey: "someone-else-2"},
	} {
		if _, err := gw.Throttle(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	r := reconcile(t, h)
	var got []string
	for _, d := range r.Differences {
		got = append(got, d.Instance.String()+":"+d.Kind+"/"+d.Action)
	}
	if strings.Join(got, " ") != "t1/t1-plugin1/i1:limit/reapplied t2/t2-plugin1/i1:foreign/reported" {
		t.Fatalf("differences %v", got)
	}
	if th, _ := h.simThrottle(t1p1i1); th.MaxConcurrency != 32 {
		t.Fatalf("t1 at %d, not set back to 32", th.MaxConcurrency)
	}
	if th, _ := h.simThrottle(t2p1i1); th.MaxConcurrency != 10 {
		t.Fatalf("the foreign throttle was touched: %+v", th)
	}
}

// TestReconcileUnsupported: a gateway without the list says so once.
func TestReconcileUnsupported(t *testing.T) {
	h := newHarness(t, setup{})
	h.ctl.o.Lister = nil
	h.ctl.o.Gateway = gatewayOnly{h.ctl.o.Gateway}
	for range 2 {
		r, err := h.ctl.Reconcile(context.Background())
		if err != nil || r.Supported {
			t.Fatalf("%+v %v", r, err)
		}
	}
	h.drain()
	n := 0
	for _, x := range h.notes.with(StatusFailed, Instance{}) {
		if x.Labels["alertname"] == ReconcileAlertName {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d reconcile-unsupported notices, want 1", n)
	}
}

type gatewayOnly struct{ Gateway }
