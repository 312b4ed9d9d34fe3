package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/store"
)

func openStore(t testing.TB) *store.Store { return storetest.SQLite(t) }

func storeChannel(name string) store.Channel {
	return store.Channel{Name: name, Type: "webhook", Enabled: true}
}

// flaky is the real store behind a switch that makes writes fail, as a
// database that goes away does.
type flaky struct {
	*store.Store
	down atomic.Bool
}

func (f *flaky) UpsertAlerts(ctx context.Context, as []store.Alert) error {
	if f.down.Load() {
		return fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return f.Store.UpsertAlerts(ctx, as)
}

func alert(name, master string, ends time.Time) Alert {
	return Alert{Labels: map[string]string{"alertname": name, "master": master, "severity": "warning"},
		Annotations: map[string]string{"summary": name + " on " + master}, StartsAt: time.Unix(1_800_000_000, 0), EndsAt: ends}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRecorderCoalescesAndSurvivesOutage(t *testing.T) {
	s := &flaky{Store: openStore(t)}
	r := NewRecorder(s, 3, nil, nil)
	r.now = func() time.Time { return time.Unix(1_800_000_100, 0) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()

	later := time.Unix(1_800_000_400, 0)
	if err := record(r, []Alert{alert("A", "m1", later), alert("A", "m1", later), alert("B", "m1", later)}, false); err != nil {
		t.Fatal(err)
	}
	total := func() int {
		_, n, err := s.ListAlerts(context.Background(), store.AlertFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "two alerts stored", func() bool { return total() == 2 })

	// The store goes down: the flush fails, the alerts wait, and ingest is
	// told to come back later; the evaluator still gets through.
	s.down.Store(true)
	_ = record(r, []Alert{alert("C", "m1", later)}, false)
	waitFor(t, "the recorder to notice", func() bool { return errors.Is(record(r, []Alert{alert("D", "m1", later)}, false), ErrBacklog) })
	if err := record(r, []Alert{alert("E", "m1", later)}, true); err != nil {
		t.Fatalf("forced record: %v", err)
	}
	s.down.Store(false)
	waitFor(t, "the backlog written after the outage", func() bool {
		items, _, _ := s.ListAlerts(context.Background(), store.AlertFilter{})
		seen := map[string]bool{}
		for _, it := range items {
			seen[it.Labels["alertname"]] = true
		}
		return seen["C"] && seen["E"] // D may have been taken before the outage was noticed
	})
	// A resolution replaces the firing state it follows.
	if err := record(r, []Alert{alert("A", "m1", time.Unix(1_800_000_050, 0))}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A resolved", func() bool {
		items, _, _ := s.ListAlerts(context.Background(), store.AlertFilter{Status: store.StatusResolved})
		return len(items) == 1 && items[0].Labels["alertname"] == "A"
	})
	cancel()
	<-done
}

// Re-posts cost no write unless something the row holds changed; each
// check posts a fresh alert after the one under test, so the count of
// rows written says whether the first was written again.
func TestRecorderWritesOnlyChanges(t *testing.T) {
	r := NewRecorder(openStore(t), 100, nil, nil)
	now := time.Unix(1_800_000_100, 0)
	r.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	written := 0.0
	a := alert("A", "m1", now)
	ends := expiryStep(now.Add(5*time.Minute), a.Fingerprint())
	a.EndsAt = ends.Add(-4 * time.Second)
	for i, step := range []struct {
		what   string
		change func(*Alert)
		writes bool
	}{
		{"first sighting", func(*Alert) {}, true},
		{"unchanged", func(*Alert) {}, false},
		{"endsAt moved within its step", func(a *Alert) { a.EndsAt = ends.Add(-time.Second) }, false},
		{"another episode", func(a *Alert) { a.StartsAt = a.StartsAt.Add(time.Second) }, true},
		{"annotation changed", func(a *Alert) { a.Annotations = map[string]string{"summary": "other"} }, true},
		{"generator URL changed", func(a *Alert) { a.GeneratorURL = "http://prom" }, true},
		{"endsAt in the next step", func(a *Alert) { a.EndsAt = ends.Add(time.Second) }, true},
		{"resolved", func(a *Alert) { a.EndsAt = now.Add(-time.Second) }, true},
	} {
		step.change(&a)
		a.fp = ""
		marker := alert(fmt.Sprintf("marker%d", i), "m1", ends)
		if err := record(r, []Alert{a, marker}, false); err != nil {
			t.Fatal(err)
		}
		want := written + 1
		if step.writes {
			want++
		}
		waitFor(t, step.what, func() bool { return testutil.ToFloat64(r.recorded) >= want })
		if got := testutil.ToFloat64(r.recorded); got != want {
			t.Fatalf("%s: %v rows written, want %v", step.what, got-written, want-written)
		}
		written = want
	}
}

func TestRecorderRefusesPastItsLimit(t *testing.T) {
	r := NewRecorder(&flaky{Store: openStore(t)}, 2, nil, nil)
	later := time.Now().Add(time.Hour)
	if err := record(r, []Alert{alert("A", "m1", later), alert("B", "m1", later)}, false); err != nil {
		t.Fatal(err)
	}
	if err := record(r, []Alert{alert("C", "m1", later)}, false); !errors.Is(err, ErrBacklog) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestToStore(t *testing.T) {
	now := time.Unix(1_800_000_100, 0)
	a := Alert{Labels: map[string]string{"alertname": "PluginCPUHigh", "tenant_id": "t1", "plugin_id": "p1", "instance_id": "i1", "severity": "page"},
		Annotations: map[string]string{"summary": "hot", "description": "very hot"}, StartsAt: time.Unix(1_800_000_000, 0), EndsAt: now.Add(time.Minute)}
	got := a.ToStore(now)
	if got.Type != "cpu_anomaly" || got.Severity != "critical" || got.RelatedType != "plugin_instance" || got.RelatedName != "t1/p1/i1" ||
		got.Title != "hot" || got.Message != "very hot" || got.Status != store.StatusActive || !got.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("firing: %+v", got)
	}
	if got.Fingerprint != a.Fingerprint() || len(got.Fingerprint) != 16 {
		t.Fatalf("fingerprint %q", got.Fingerprint)
	}
	a.EndsAt = now.Add(-time.Second)
	a.Labels["type"] = "throttle"
	if got := a.ToStore(now); got.Status != store.StatusResolved || got.Type != "throttle" || !got.ResolvedAt.Equal(a.EndsAt.UTC()) {
		t.Fatalf("resolved: %+v", got)
	}
}

// record queues alerts without waiting for the store.
func record(r *Recorder, as []Alert, force bool) error {
	_, err := r.Record(as, force)
	return err
}

// A Record call's Wait returns once its changes are in the store: what
// ingest waits on before it answers.
func TestRecorderWaitsUntilDurable(t *testing.T) {
	s := &flaky{Store: openStore(t)}
	r := NewRecorder(s, 100, nil, nil)
	later := time.Now().Add(time.Hour)
	wait, err := r.Record([]Alert{alert("A", "m1", later)}, false)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := wait(short); !errors.Is(err, ErrBacklog) {
		t.Fatalf("durable before any flush: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	if err := wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n, err := s.ListAlerts(context.Background(), store.AlertFilter{}); err != nil || n != 1 {
		t.Fatalf("durable, but %d rows (%v)", n, err)
	}
	// Unchanged: nothing to wait for.
	wait, _ = r.Record([]Alert{alert("A", "m1", later)}, false)
	if err := wait(short); err != nil {
		t.Fatalf("an unchanged re-post waited: %v", err)
	}
}
