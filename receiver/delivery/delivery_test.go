package delivery_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/store"
)

func TestDeliveredOnceAndWakeIsImmediate(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	ch := channel(t, st, "ops", sk.URL+"/hook")
	reg := prometheus.NewRegistry()
	// An hour between polls: only Wake can explain a prompt delivery.
	w, _ := start(t, delivery.Options{Store: st, PollInterval: time.Hour, Registerer: reg})

	first := enqueue(t, st, ch, "g1")
	w.Wake()
	eventually(t, "first delivery", func() bool { _, d := sk.count("g1"); return d == 1 })

	// The worker is idle now; the second item leaves on Wake alone.
	begin := time.Now()
	second := enqueue(t, st, ch, "g2")
	w.Wake()
	eventually(t, "woken delivery", func() bool { _, d := sk.count("g2"); return d == 1 })
	latency := time.Since(begin)
	t.Logf("enqueue → delivered after Wake: %v", latency)
	if latency > time.Second {
		t.Errorf("delivery after Wake took %v; Wake should make it immediate", latency)
	}

	for _, it := range []store.OutboxItem{first, second} {
		eventually(t, "item marked sent", func() bool { return item(t, st, it.ID).State == store.OutboxSent })
	}
	eventually(t, "history", func() bool { return len(history(t, st, ch.ID)) == 2 })
	for _, h := range history(t, st, ch.ID) {
		if h.Status != store.HistorySent || h.Attempt != 1 || h.Error != "" {
			t.Errorf("history %+v, want sent attempt 1", h)
		}
		if !strings.Contains(string(h.Payload), `"outbox_id"`) {
			t.Errorf("history payload %s lacks the outbox id", h.Payload)
		}
	}
	if got := value(t, reg, "gatewarden_notifications_total", "ops", "sent"); got != 2 {
		t.Errorf("sent counter %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "gatewarden_notification_latency_seconds"); err != nil || n != 1 {
		t.Errorf("latency histogram series %d (%v), want 1", n, err)
	}
	eventually(t, "claims released", func() bool {
		return value(t, reg, "gatewarden_outbox_claimed") == 0
	})
	// A few more wakes with nothing due change nothing.
	w.Wake()
	w.Wake()
	if _, total := sk.deliveredCount(); total != 2 {
		t.Errorf("sink got %d deliveries, want 2", total)
	}
}

// value reads one series of a gathered counter or gauge by its label
// values (in the order of the metric's labels); 0 when absent.
func value(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := len(m.GetLabel()) == len(labels)
			for i, l := range m.GetLabel() {
				ok = ok && l.GetValue() == labels[i]
			}
			if ok {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func TestRetriesWithGrowingBackoffThenDeliversOnce(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	sk.respond = func(_, _ string, n int) (int, http.Header) {
		if n < 3 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	}
	ch := channel(t, st, "flaky", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	clk := newClock()
	reg := prometheus.NewRegistry()
	w, _ := start(t, delivery.Options{Store: st, Now: clk.Now, Jitter: noJitter, PollInterval: time.Hour, Registerer: reg})

	var waits []time.Duration
	for attempt := 1; attempt <= 3; attempt++ {
		eventually(t, "failed attempt", settled(t, st, it.ID, attempt))
		if hs := history(t, st, ch.ID); len(hs) != 0 {
			t.Fatalf("a retried attempt in the history: %+v", hs)
		}
		got := item(t, st, it.ID)
		if got.State != store.OutboxPending || got.Attempts != attempt || !strings.Contains(got.LastError, "500") {
			t.Fatalf("after attempt %d: %+v", attempt, got)
		}
		wait := got.NextAttemptAt.Sub(clk.Now())
		waits = append(waits, wait)
		clk.Advance(wait)
		w.Wake()
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !equalDurations(waits, want) {
		t.Errorf("backoff %v, want %v", waits, want)
	}
	eventually(t, "delivery", func() bool { return len(history(t, st, ch.ID)) == 1 })
	if h := history(t, st, ch.ID)[0]; h.Status != store.HistorySent || h.Attempt != 4 {
		t.Errorf("history %s attempt %d, want the outcome alone: sent attempt 4", h.Status, h.Attempt)
	}
	if reqs, delivered := sk.count("g"); reqs != 4 || delivered != 1 {
		t.Errorf("sink: %d requests, %d delivered; want 4 and 1", reqs, delivered)
	}
	if got := item(t, st, it.ID); got.State != store.OutboxSent || got.Attempts != 4 {
		t.Errorf("item %+v, want sent after 4 attempts", got)
	}
	if got := value(t, reg, "gatewarden_notifications_total", "flaky", "retried"); got != 3 {
		t.Errorf("retried counter %v, want 3", got)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDefaultJitterStaysUnderTheCeiling(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	sk.respond = func(string, string, int) (int, http.Header) { return http.StatusBadGateway, nil }
	ch := channel(t, st, "jitter", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	clk := newClock()
	w, _ := start(t, delivery.Options{Store: st, Now: clk.Now, PollInterval: time.Hour, BackoffBase: 10 * time.Second})
	for attempt := 1; attempt <= 4; attempt++ {
		eventually(t, "failed attempt", settled(t, st, it.ID, attempt))
		got := item(t, st, it.ID)
		ceiling := 10 * time.Second << (attempt - 1)
		if wait := got.NextAttemptAt.Sub(clk.Now()); wait < 0 || wait > ceiling {
			t.Fatalf("attempt %d: wait %v outside [0, %v]", attempt, wait, ceiling)
		}
		clk.Advance(ceiling)
		w.Wake()
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	sk.respond = func(string, string, int) (int, http.Header) { return http.StatusBadRequest, nil }
	ch := channel(t, st, "strict", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	start(t, delivery.Options{Store: st, PollInterval: 5 * time.Millisecond})
	eventually(t, "failure recorded", func() bool { return len(history(t, st, ch.ID)) == 1 })
	got := item(t, st, it.ID)
	if got.State != store.OutboxFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "400") {
		t.Fatalf("item %+v, want failed at once with the 400", got)
	}
	if h := history(t, st, ch.ID)[0]; h.Status != store.HistoryFailed || h.Attempt != 1 || !strings.Contains(h.Error, "400") {
		t.Errorf("history %+v", h)
	}
	// 'failed' is final: no claim can take it again, however often the
	// worker polls.
	if reqs, _ := sk.count("g"); reqs != 1 {
		t.Errorf("sink got %d requests, want 1", reqs)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	sk.respond = func(_, _ string, n int) (int, http.Header) {
		if n == 0 {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"120"}}
		}
		return http.StatusOK, nil
	}
	ch := channel(t, st, "slowdown", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	clk := newClock()
	w, _ := start(t, delivery.Options{Store: st, Now: clk.Now, Jitter: noJitter, PollInterval: time.Hour})
	eventually(t, "first attempt", settled(t, st, it.ID, 1))
	got := item(t, st, it.ID)
	if wait := got.NextAttemptAt.Sub(clk.Now()); wait != 120*time.Second {
		t.Fatalf("next attempt in %v, want the 120s Retry-After (backoff alone: 1s)", wait)
	}
	clk.Advance(120 * time.Second)
	w.Wake()
	eventually(t, "delivery", func() bool { return item(t, st, it.ID).State == store.OutboxSent })
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	sk.respond = func(string, string, int) (int, http.Header) { return http.StatusInternalServerError, nil }
	ch := channel(t, st, "down", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	clk := newClock()
	w, _ := start(t, delivery.Options{Store: st, Now: clk.Now, Jitter: noJitter, PollInterval: time.Hour, MaxAge: time.Hour})
	eventually(t, "first attempt", settled(t, st, it.ID, 1))
	if got := item(t, st, it.ID); got.State != store.OutboxPending {
		t.Fatalf("young item not retried: %+v", got)
	}
	clk.Advance(2 * time.Hour)
	w.Wake()
	eventually(t, "second attempt", settled(t, st, it.ID, 2))
	got := item(t, st, it.ID)
	if got.State != store.OutboxFailed || !strings.Contains(got.LastError, "gave up after 2 attempts over 2h") {
		t.Fatalf("item %+v, want given up", got)
	}
	if hs := history(t, st, ch.ID); len(hs) != 1 || hs[0].Status != store.HistoryFailed || !strings.HasPrefix(hs[0].Error, "gave up after 2 attempts") {
		t.Errorf("history %+v, want one entry: failed, given up", hs)
	}
}

func TestDisabledChannelIsSuppressed(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	ch := channel(t, st, "muted", sk.URL+"/hook")
	ch.Enabled = false
	if _, err := st.UpdateChannel(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	it := enqueue(t, st, ch, "g")
	start(t, delivery.Options{Store: st, PollInterval: 5 * time.Millisecond})
	eventually(t, "suppression", func() bool { return len(history(t, st, ch.ID)) == 1 })
	if h := history(t, st, ch.ID)[0]; h.Status != store.HistorySuppressed || h.Error != "channel disabled" {
		t.Errorf("history %+v", h)
	}
	if got := item(t, st, it.ID); got.State != store.OutboxSent {
		t.Errorf("item %+v, want finished", got)
	}
	if reqs, _ := sk.count("g"); reqs != 0 {
		t.Errorf("a disabled channel received %d requests", reqs)
	}
}

func TestFailingChannelRaisesAndResolves(t *testing.T) {
	st, sk := storetest.SQLite(t), newSink(t)
	var mu sync.Mutex
	healthy := false
	sk.respond = func(string, string, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusOK, nil
		}
		return http.StatusInternalServerError, nil
	}
	ch := channel(t, st, "pager", sk.URL+"/hook")
	it := enqueue(t, st, ch, "g")
	var events []string
	var lastConsecutive int
	clk := newClock()
	reg := prometheus.NewRegistry()
	w, _ := start(t, delivery.Options{
		Store: st, Now: clk.Now, Jitter: noJitter, PollInterval: time.Hour, Registerer: reg, FailingThreshold: 3,
		OnFailing: func(c store.Channel, n int, err error) {
			mu.Lock()
			defer mu.Unlock()
			if c.Config != nil || c.Name != "pager" || err == nil {
				t.Errorf("OnFailing(%+v, %v)", c, err)
			}
			events, lastConsecutive = append(events, "failing"), n
		},
		OnRecovered: func(store.Channel) { mu.Lock(); events = append(events, "recovered"); mu.Unlock() },
	})
	snapshot := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), events...) }
	for attempt := 1; attempt <= 4; attempt++ {
		eventually(t, "failed attempt", settled(t, st, it.ID, attempt))
		want := 0
		if attempt >= 3 {
			want = 1
		}
		if got := snapshot(); len(got) != want {
			t.Fatalf("after %d failures: events %v", attempt, got)
		}
		if got := value(t, reg, "gatewarden_delivery_channel_failing", "pager"); got != float64(want) {
			t.Fatalf("after %d failures: failing gauge %v", attempt, got)
		}
		clk.Advance(item(t, st, it.ID).NextAttemptAt.Sub(clk.Now()))
		if attempt < 4 {
			w.Wake()
		}
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	w.Wake()
	eventually(t, "delivery", func() bool { return item(t, st, it.ID).State == store.OutboxSent })
	if got := snapshot(); len(got) != 2 || got[0] != "failing" || got[1] != "recovered" || lastConsecutive != 3 {
		t.Errorf("events %v (consecutive %d), want failing at 3 then recovered", got, lastConsecutive)
	}
	if got := value(t, reg, "gatewarden_delivery_channel_failing", "pager"); got != 0 {
		t.Errorf("failing gauge %v after recovery", got)
	}
}
