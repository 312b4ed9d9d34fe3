package main

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/backtest"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// TestBacktestAgreesWithLive: the backtest of a recorded spike reports
// the decisions the daemon took live on the same data. gatewarden
// throttles a gatewaysim instance whose CPU spikes and releases it once
// the spike is over; the daemon stops, and a backtest of its storage
// path over the same interval, with the same config, throttles and
// releases the same instances, each within one step of the live time; so
// do backtests while the daemon runs, through its API and of its storage
// path.
//
// Scrapes, evaluations and steps are 5 s, the daemon's throttle Tick
// interval: live, the release waits for a Tick, in the backtest for a
// step. The stable window, 4 s, ends a little before the next Tick, so a
// Tick that runs a few milliseconds early does not put the live release
// a whole Tick later.
func TestBacktestAgreesWithLive(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	sim := startSim(t, addr)
	cfgFile, dir := gatewayConfig(t, addr, "5s", "5s", `throttle:
  gateway: {url: "http://`+addr+`"}
  stable_window: 4s
`)
	data := filepath.Join(dir, "data")
	from := time.Now().Truncate(time.Second)
	d := startDaemon(t, cfgFile, data)
	sim.spike("i1")
	atGateway := func() bool { return sim.throttled()["i1"] > 0 }
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("the instance throttled at the gateway", atGateway)
	// The spike ends; the throttle is released after the stable window.
	sim.scenario(`{"name":"reset"}`)
	wait("the throttle released", func() bool { return !atGateway() })
	time.Sleep(6 * time.Second) // a scrape after the release, recorded
	cfg, err := config.LoadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	step := 5 * time.Second
	// While the daemon runs, through its API (--url) and its storage path
	// (read-only) ...
	remote := backtestDecisions(t, backtest.Options{Config: cfg, API: d.api, From: from, To: time.Now(), Step: step})
	running := backtestDecisions(t, backtest.Options{Config: cfg, StoragePath: data, From: from, To: time.Now(), Step: step})
	d.stop()
	// ... and once it stopped, over its storage path.
	local := backtestDecisions(t, backtest.Options{Config: cfg, StoragePath: data, From: from, To: time.Now(), Step: step})
	live := liveDecisions(t, data)
	t.Logf("live: %v\nbacktest of the storage path: %v\nbacktest through the API: %v", live, local, remote)
	if !slices.ContainsFunc(live, func(x decision) bool { return x.what == "release/ok" && x.inst == "t1/t1-plugin1/i1" }) {
		t.Fatalf("live, i1 was not released: %v", live)
	}
	// One step, and what the live run spends between a sample's
	// timestamp (or a Tick) and its audit record.
	tolerance := step + 250*time.Millisecond
	agree(t, "storage path", live, local, tolerance)
	agree(t, "API", live, remote, tolerance)
	agree(t, "storage path of the running daemon", live, running, tolerance)
}

// agree requires the same decisions on the same instances, each within
// tolerance of the live one. Several instances decided at one evaluation
// may be audited in any order: compared per instance.
func agree(t *testing.T, what string, live, bt []decision, tolerance time.Duration) {
	t.Helper()
	if len(live) != len(bt) {
		t.Errorf("%s: live %d decisions, backtest %d", what, len(live), len(bt))
		return
	}
	live, bt = slices.Clone(live), slices.Clone(bt)
	slices.SortStableFunc(live, decision.byInstance)
	slices.SortStableFunc(bt, decision.byInstance)
	for i := range live {
		l, b := live[i], bt[i]
		if l.inst != b.inst || l.what != b.what || l.at.Sub(b.at).Abs() > tolerance {
			t.Errorf("%s, decision %d: live %v, backtest %v (more than %s apart?)", what, i, l, b, tolerance)
		}
	}
}

func backtestDecisions(t *testing.T, o backtest.Options) []decision {
	t.Helper()
	rep, err := backtest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var out []decision
	for _, e := range rep.Throttles {
		out = append(out, decision{e.Instance.String(), e.Action + "/" + e.Result, e.Time})
	}
	return out
}

// decision is one throttle decision or operation: what, on which
// instance, when.
type decision struct {
	inst, what string
	at         time.Time
}

func (d decision) String() string {
	return fmt.Sprintf("%s %s@%s", d.inst, d.what, d.at.Format("15:04:05.000"))
}

func (d decision) byInstance(o decision) int { return cmp.Compare(d.inst, o.inst) }

// liveDecisions reads the daemon's throttle audit, oldest first, as a
// backtest reports its own.
func liveDecisions(t *testing.T, data string) []decision {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, _, err := st.ListThrottleAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(items)
	var out []decision
	for _, a := range items {
		if e, ok := backtest.ThrottleEventOf(a); ok {
			out = append(out, decision{e.Instance.String(), e.Action + "/" + e.Result, e.Time})
		}
	}
	return out
}
