package throttle

import (
	"context"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
)

// TestKillSwitch: turning the automation off releases every throttle it
// applied (limits restored at the sim, one audit record each), raises one
// notice saying who and why, and makes anomalies alerts only; the setting
// survives a restart; turned on again it throttles from a clean state.
func TestKillSwitch(t *testing.T) {
	h := newHarness(t, setup{policy: func(p *config.ThrottlePolicy) { p.BlastRadius.MaxPluginRatio = 1 }})
	insts := []Instance{t1p1i1, t1p1i2, t2p1i1}
	h.spike(insts...)
	h.steps(3)
	for _, inst := range insts {
		if _, ok := h.simThrottle(inst); !ok {
			t.Fatalf("%s not throttled before the switch", inst)
		}
	}
	ctx := context.Background()
	a, n, err := h.ctl.SetAutomation(ctx, false, "incident 42", "user:alice")
	if err != nil || a.Enabled || n != 3 {
		t.Fatalf("SetAutomation: %+v, %d released, %v", a, n, err)
	}
	h.drain()
	for _, inst := range insts {
		if th, ok := h.simThrottle(inst); ok {
			t.Errorf("%s still throttled at the sim: %+v", inst, th)
		}
		if got := actions(h.audits(inst)); got[len(got)-2] != "release:ok" || got[len(got)-1] != "verify:ok" {
			t.Errorf("%s audit ends %v", inst, got)
		}
	}
	if len(h.ctl.Active()) != 0 || h.metric("gatewarden_throttle_automation_enabled") != 0 {
		t.Fatalf("after the switch: active %+v", h.ctl.Active())
	}
	off := h.notes.with(StatusDisabled, Instance{})
	if len(off) != 1 || off[0].Labels["alertname"] != AutomationAlertName || off[0].Annotations["disabled_by"] != "user:alice" ||
		off[0].Annotations["reason"] != "incident 42" {
		t.Fatalf("disabled notices %+v", off)
	}

	// The spike goes on: the alert's next re-send (a minute) is an alert
	// only, and nothing is called.
	patches := len(h.front.patches())
	h.steps(7)
	if got := len(h.front.patches()); got != patches {
		t.Fatalf("%d PATCHes while the automation is off", got-patches)
	}
	if only := h.notes.with(StatusAlertOnly, t1p1i1); len(only) == 0 || only[0].Annotations["reason"] != "automation_disabled" {
		t.Fatalf("alert-only notices %+v", only)
	}

	// A restart keeps it off.
	h.ctl.Close()
	h.start()
	if h.ctl.Automation().Enabled || h.ctl.Automation().Reason != "incident 42" {
		t.Fatalf("after a restart: %+v", h.ctl.Automation())
	}
	h.steps(3)
	if got := len(h.front.patches()); got != patches {
		t.Fatalf("%d PATCHes after a restart with the automation off", got-patches)
	}

	if _, _, err := h.ctl.SetAutomation(ctx, true, "", "user:bob"); err != nil {
		t.Fatal(err)
	}
	h.steps(7) // a fresh decision on the still-firing alert's next re-send
	for _, inst := range insts {
		if _, ok := h.simThrottle(inst); !ok {
			t.Errorf("%s not throttled again after the automation came back", inst)
		}
	}
	var resolved bool
	for _, n := range h.notes.with(StatusDisabled, Instance{}) {
		resolved = resolved || !n.EndsAt.IsZero() && !n.EndsAt.After(h.clk.Now())
	}
	if !resolved {
		t.Fatal("the disabled notice was not resolved")
	}
}

// TestKillSwitchSharedStore: a controller on the same store takes the
// switch another one set, on its next tick.
func TestKillSwitchSharedStore(t *testing.T) {
	h := newHarness(t, setup{})
	h.spike(t1p1i1)
	h.steps(3)
	other := h.ctl
	h.start() // a second controller on the same store, as a peer
	peer := h.ctl
	h.ctl = other
	if _, _, err := peer.SetAutomation(context.Background(), false, "maintenance", "user:carol"); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Second)
	other.Tick(context.Background())
	h.drain()
	if other.Automation().Enabled {
		t.Fatal("the peer's switch was not taken")
	}
	if _, ok := h.simThrottle(t1p1i1); ok {
		t.Fatal("the throttle of the controller that took the switch was not released")
	}
}
