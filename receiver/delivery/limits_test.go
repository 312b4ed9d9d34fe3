package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/store"
)

func TestConcurrencyIsBoundedPerChannel(t *testing.T) {
	st := storetest.SQLite(t)
	sinks := []*sink{newSink(t), newSink(t)}
	for _, sk := range sinks {
		// The first two requests wait for each other, so the sink surely
		// sees the bound reached; a third concurrent request would show as
		// a peak of 3.
		sk.hold = func(path string, n int) {
			if n >= 2 {
				time.Sleep(time.Millisecond)
				return
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				sk.mu.Lock()
				both := sk.cur[path] >= 2
				sk.mu.Unlock()
				if both {
					return
				}
			}
		}
	}
	chA, chB := channel(t, st, "a", sinks[0].URL+"/hook"), channel(t, st, "b", sinks[1].URL+"/hook")
	itemsA, itemsB := fill(t, st, chA, "a", 20), fill(t, st, chB, "b", 20)
	// Both channels' lanes run at once: the bound is per channel.
	start(t, delivery.Options{Store: st, Concurrency: 2, RatePerSecond: delivery.NoRateLimit, PollInterval: 5 * time.Millisecond})
	exactlyOnce(t, st, sinks[0], chA, "a", itemsA)
	exactlyOnce(t, st, sinks[1], chB, "b", itemsB)
	for i, sk := range sinks {
		sk.mu.Lock()
		if peak := sk.peak["/hook"]; peak != 2 {
			t.Errorf("channel %d: peak of %d concurrent requests, want exactly the bound 2", i, peak)
		}
		sk.mu.Unlock()
	}
}

func TestRateIsLimitedPerChannel(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	ch := channel(t, st, "ops", sk.URL+"/hook")
	const n, rate = 150, 100.0 // a burst of 100, then one send every 10ms
	items := fill(t, st, ch, "item", n)
	begin := time.Now()
	start(t, delivery.Options{Store: st, Concurrency: 8, RatePerSecond: rate, BatchSize: 200, PollInterval: 5 * time.Millisecond})
	exactlyOnce(t, st, sk, ch, "item", items)
	sk.mu.Lock()
	last := sk.arrived[len(sk.arrived)-1]
	sk.mu.Unlock()
	// The limiter cannot start send k (from 0) before (k-burst+1)/rate
	// after the first; the sink sees it later still. A lower bound only:
	// it holds however slow the machine is.
	minimum := time.Duration(float64(n-int(rate)) / rate * float64(time.Second))
	if took := last.Sub(begin); took < minimum {
		t.Errorf("%d sends took %v; a rate of %v/s allows no less than %v", n, took, rate, minimum)
	} else {
		t.Logf("%d sends took %v (limit allows ≥ %v)", n, took, minimum)
	}
}

// A claim its channel's lane cannot start within AttemptTimeout goes back
// to the outbox unsent, so a hanging channel does not sit on claims that
// other channels' items need.
func TestBusyLaneGivesClaimsBack(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) }) // runs before the sink closes
	sk.hold = func(string, int) { <-hang }
	ch := channel(t, st, "hung", sk.URL+"/hook")
	items := fill(t, st, ch, "item", 3)
	clk := newClock()
	const timeout = 200 * time.Millisecond
	start(t, delivery.Options{Store: st, Now: clk.Now, PollInterval: time.Hour, Concurrency: 1, AttemptTimeout: timeout})

	// The first item is sent and times out. The last can never start: it
	// would need the slot for two sends' time but waits for one at most.
	// Each item ends either attempted (history, last error) or given back
	// (pending, no error, due AttemptTimeout later by the worker's clock).
	attempted, back := 0, 0
	eventually(t, "every item attempted or given back", func() bool {
		attempted, back = 0, 0
		for _, it := range items {
			got := item(t, st, it.ID)
			switch {
			case got.State == store.OutboxPending && got.LastError == "" && got.Attempts == 1:
				if !got.NextAttemptAt.Equal(clk.Now().Add(timeout)) {
					t.Fatalf("given back due at %v, want now+AttemptTimeout", got.NextAttemptAt)
				}
				back++
			case got.LastError != "":
				attempted++
			}
		}
		return attempted+back == len(items)
	})
	if attempted == 0 || back == 0 {
		t.Errorf("%d attempted, %d given back; want both", attempted, back)
	}
	for _, it := range items {
		if got := item(t, st, it.ID); got.LastError != "" && !strings.Contains(got.LastError, "deadline") {
			t.Errorf("item %+v, want a timed-out attempt", got)
		}
	}
	sk.mu.Lock()
	if sk.total != attempted {
		t.Errorf("sink got %d requests, want one per attempted item (%d)", sk.total, attempted)
	}
	sk.mu.Unlock()
}
