package throttle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/store"
)

// thousand is a sim of 1,000 plugin instances: 10 tenants × 10 plugins ×
// 10 instances, and as little traffic as the sim allows.
func thousand(o *gatewaysim.Options) {
	o.Masters, o.KeysPerMaster, o.Providers, o.Models = 1, 1, 1, 1
	o.Tenants, o.PluginsPerTenant, o.InstancesPerPlugin = 10, 10, 10
}

// TestBlastRadius1000: every instance spikes at once. Each of the 1,000
// anomalies is decided and audited in the evaluation that sees its third
// sample; at most 100 are throttled, at most half of any plugin's, with
// no more calls in flight than workers; a release makes room for one
// that waited.
func TestBlastRadius1000(t *testing.T) {
	h := newHarness(t, setup{sim: thousand, snapshot: true, policy: func(p *config.ThrottlePolicy) {
		p.BlastRadius = config.ThrottleBlastRadius{MaxInstances: 100, MaxPluginRatio: 0.5}
	}})
	if _, err := h.sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike"}); err != nil {
		t.Fatal(err)
	}
	// Each answer takes 20 ms, so calls pile up against the pool's bound.
	h.front.delay, h.front.hold = 1000, 20*time.Millisecond
	h.steps(2)
	began := time.Now()
	evs := h.step()
	t.Logf("1,000 anomalies decided, 100 throttled and verified, all audited in %v", time.Since(began))
	if len(evs) != 1000 {
		t.Fatalf("%d alerts fired", len(evs))
	}
	applied := h.sim.Throttles()
	perPlugin := map[string]int{}
	for _, th := range applied {
		perPlugin[th.PluginID]++
	}
	if len(applied) != 100 || len(h.front.patches()) != 100 {
		t.Fatalf("%d throttles applied with %d PATCHes, want 100", len(applied), len(h.front.patches()))
	}
	for p, n := range perPlugin {
		if n > 5 {
			t.Errorf("plugin %s: %d of 10 instances throttled, cap 50 %%", p, n)
		}
	}
	if m := h.front.maxInflight.Load(); m > int64(config.DefaultThrottleWorkers) {
		t.Errorf("%d PATCHes in flight at once, more than the %d workers", m, config.DefaultThrottleWorkers)
	}
	t.Logf("at most %d PATCHes in flight", h.front.maxInflight.Load())
	// Audited: 100 × (decide, apply, verify) + 900 capped decisions.
	_, total, err := h.st.ListThrottleAudit(context.Background(), store.AuditFilter{Limit: 1})
	if err != nil || total != 1200 {
		t.Fatalf("%d audit records (%v), want 1200", total, err)
	}
	for decision, want := range map[string]float64{"throttle": 100, "blast_radius": 900} {
		if n := h.metric("gatewarden_throttle_trigger_total", "decision", decision); n != want {
			t.Errorf("%s decisions %g, want %g", decision, n, want)
		}
	}
	if n := len(h.notes.with(StatusAlertOnly, Instance{})); n != 900 {
		t.Errorf("%d ALERT_ONLY notices, want 900", n)
	}
	act := h.ctl.Active()
	waiting := 0
	for _, a := range act {
		if a.State == StateDetecting {
			waiting++
		}
	}
	if len(act) != 1000 || waiting != 900 {
		t.Fatalf("active: %d, %d of them waiting", len(act), waiting)
	}

	// Releasing one makes room for the oldest waiting one of its plugin.
	first, _ := h.active(Instance{"t1", "t1-plugin1", "i1"})
	if err := h.ctl.Release(context.Background(), first.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.ctl.Tick(context.Background())
	h.drain()
	promoted, ok := h.active(Instance{"t1", "t1-plugin1", "i5"})
	if !ok || promoted.State != StateThrottled || len(h.sim.Throttles()) != 100 {
		t.Fatalf("after a release: %+v, %d throttles", promoted, len(h.sim.Throttles()))
	}
	if at := h.notes.with(StatusAlertOnly, promoted.Instance); len(at) != 2 || at[1].EndsAt.IsZero() {
		t.Fatalf("the promoted instance's ALERT_ONLY was not resolved: %+v", at)
	}
	if got := strings.Join(actions(h.audits(promoted.Instance)), " "); got != "decide:blast_radius decide:throttle apply:ok verify:ok" {
		t.Fatalf("audit %s", got)
	}
}
