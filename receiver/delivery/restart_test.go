package delivery_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/store"
)

// fill enqueues n items for ch with group keys prefix-0 … prefix-(n-1).
func fill(t *testing.T, st *store.Store, ch store.Channel, prefix string, n int) []store.OutboxItem {
	t.Helper()
	items := make([]store.OutboxItem, n)
	for i := range items {
		items[i] = enqueue(t, st, ch, fmt.Sprintf("%s-%d", prefix, i))
	}
	return items
}

// exactlyOnce checks that every item reached the sink exactly once and
// ended sent, with one 'sent' history entry each.
func exactlyOnce(t *testing.T, st *store.Store, sk *sink, ch store.Channel, prefix string, items []store.OutboxItem) {
	t.Helper()
	eventually(t, "every item marked sent", func() bool {
		for _, it := range items {
			if item(t, st, it.ID).State != store.OutboxSent {
				return false
			}
		}
		return true
	})
	for i := range items {
		if _, d := sk.count(fmt.Sprintf("%s-%d", prefix, i)); d != 1 {
			t.Errorf("%s-%d delivered %d times, want 1", prefix, i, d)
		}
	}
	if keys, total := sk.deliveredCount(); keys != len(items) || total != len(items) {
		t.Errorf("sink: %d keys, %d deliveries; want %d each", keys, total, len(items))
	}
	// The history entry follows the mark.
	eventually(t, "a sent history entry per item", func() bool {
		_, sent, err := st.ListHistory(context.Background(), store.HistoryFilter{ChannelID: ch.ID, Status: store.HistorySent})
		if err != nil || sent > len(items) {
			t.Fatalf("history: %d sent entries (%v), want %d", sent, err, len(items))
		}
		return sent == len(items)
	})
}

func TestRestartWithAFullOutbox(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	// Slow enough answers that worker A is stopped with work left.
	sk.hold = func(string, int) { time.Sleep(2 * time.Millisecond) }
	ch := channel(t, st, "ops", sk.URL+"/hook")
	items := fill(t, st, ch, "item", 200)

	opts := delivery.Options{Store: st, Concurrency: 4, RatePerSecond: delivery.NoRateLimit, BatchSize: 16,
		PollInterval: 10 * time.Millisecond}
	_, stopA := start(t, opts)
	eventually(t, "worker A half-way", func() bool { _, n := sk.deliveredCount(); return n >= 50 })
	stopA() // returns once A's sends in progress finished and its other claims went back
	_, byA := sk.deliveredCount()
	pending := 0
	for _, it := range items {
		switch s := item(t, st, it.ID).State; s {
		case store.OutboxSending:
			t.Fatalf("item %d left in sending after a graceful stop", it.ID)
		case store.OutboxPending:
			pending++
		}
	}
	if pending == 0 || byA+pending != len(items) {
		t.Fatalf("after A: %d delivered, %d pending; want a split of %d", byA, pending, len(items))
	}
	t.Logf("worker A delivered %d, left %d pending", byA, pending)

	start(t, opts)
	exactlyOnce(t, st, sk, ch, "item", items)
}

// A crashed worker leaves claims in 'sending'; the next worker requeues
// them at start once they are older than StaleAfter, and leaves a live
// worker's fresh claims alone.
func TestStaleClaimsAreRequeuedAtStart(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	ch := channel(t, st, "ops", sk.URL+"/hook")
	crashed := enqueue(t, st, ch, "crashed")
	claimed, err := st.ClaimDue(context.Background(), time.Now(), 10) // the crashed worker's claim
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}

	// A worker whose clock says the claim is fresh leaves it alone; a
	// delivery of another item proves it has run its start-up requeue.
	probe := enqueue(t, st, ch, "probe")
	_, stop := start(t, delivery.Options{Store: st, PollInterval: time.Hour})
	eventually(t, "probe delivered", func() bool { return item(t, st, probe.ID).State == store.OutboxSent })
	stop()
	if got := item(t, st, crashed.ID); got.State != store.OutboxSending {
		t.Fatalf("a fresh claim was requeued: %+v", got)
	}

	clk := newClock()
	clk.Advance(delivery.DefaultStaleAfter + time.Second)
	start(t, delivery.Options{Store: st, Now: clk.Now, PollInterval: time.Hour})
	eventually(t, "stale item delivered", func() bool { return item(t, st, crashed.ID).State == store.OutboxSent })
	if _, d := sk.count("crashed"); d != 1 {
		t.Errorf("stale item delivered %d times", d)
	}
	eventually(t, "history of both", func() bool { return len(history(t, st, ch.ID)) == 2 })
	if h := history(t, st, ch.ID)[1]; h.Status != store.HistorySent || h.Attempt != 2 {
		t.Errorf("history %s attempt %d: want sent, attempt 2 (the crashed claim was 1)", h.Status, h.Attempt)
	}
}

func TestTwoWorkersShareOnePostgreSQLStore(t *testing.T) {
	url := pg.NewDB(t)
	a, b := storetest.Open(t, store.Options{DatabaseURL: url}), storetest.Open(t, store.Options{DatabaseURL: url})
	sk := newSink(t)
	ch := channel(t, a, "ops", sk.URL+"/hook")
	items := fill(t, a, ch, "item", 200)
	opts := func(s *store.Store) delivery.Options {
		return delivery.Options{Store: s, Concurrency: 4, RatePerSecond: delivery.NoRateLimit, BatchSize: 8,
			PollInterval: 5 * time.Millisecond}
	}
	wa, _ := start(t, opts(a))
	wb, _ := start(t, opts(b))
	wa.Wake()
	wb.Wake()
	exactlyOnce(t, a, sk, ch, "item", items)
}

// A send in progress when the worker is stopped is completed and recorded,
// not cut off: cut off, its outcome would be unknown and it would be sent
// again.
func TestShutdownLetsSendsInProgressFinish(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the sink closes, should the test fail early
	sk.hold = func(string, int) { <-release }
	ch := channel(t, st, "ops", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	w := delivery.New(delivery.Options{Store: st, Builder: builder, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	eventually(t, "request in flight", func() bool { reqs, _ := sk.count("g"); return reqs == 1 })
	cancel()
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Run returned after the outcome was recorded.
	if got := item(t, st, it.ID); got.State != store.OutboxSent {
		t.Errorf("item %+v, want sent", got)
	}
	if hs := history(t, st, ch.ID); len(hs) != 1 || hs[0].Status != store.HistorySent {
		t.Errorf("history %+v", hs)
	}
}
