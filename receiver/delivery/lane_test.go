package delivery

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReserveKeepsTheRate(t *testing.T) {
	l := newLane(1, 10) // burst 10, then one every 100ms
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		if wait, ok := l.reserve(t0, 0); !ok || wait != 0 {
			t.Fatalf("burst send %d: wait %v ok %v", i, wait, ok)
		}
	}
	// Too long a wait books nothing, so the next caller is not pushed back.
	if wait, ok := l.reserve(t0, 50*time.Millisecond); ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: wait %v ok %v, want 100ms refused", wait, ok)
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		if wait, ok := l.reserve(t0, time.Second); !ok || wait != want {
			t.Fatalf("send %d over the burst: wait %v ok %v, want %v", i, wait, ok, want)
		}
	}
	// Idle for long enough, the whole burst is available again, no more.
	later := t0.Add(10 * time.Second)
	for i := range 10 {
		if wait, _ := l.reserve(later, time.Second); wait != 0 {
			t.Fatalf("refilled burst send %d waits %v", i, wait)
		}
	}
	if wait, _ := l.reserve(later, time.Second); wait != 100*time.Millisecond {
		t.Fatalf("after the refilled burst: wait %v", wait)
	}
}

func TestReserveUnlimited(t *testing.T) {
	l := newLane(1, NoRateLimit)
	for range 1000 {
		if wait, ok := l.reserve(time.Now(), 0); !ok || wait != 0 {
			t.Fatalf("unlimited lane waits %v", wait)
		}
	}
}

func TestAcquireBoundsConcurrency(t *testing.T) {
	l := newLane(2, NoRateLimit)
	ctx := context.Background()
	if !l.acquire(ctx, 0) || !l.acquire(ctx, 0) {
		t.Fatal("two slots of two not taken")
	}
	if l.acquire(ctx, time.Millisecond) {
		t.Fatal("a third slot was taken")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if l.acquire(cancelled, time.Hour) {
		t.Fatal("acquired after ctx ended")
	}
	l.release()
	if !l.acquire(ctx, 0) {
		t.Fatal("a released slot was not reusable")
	}
}

type retryAfterErr time.Duration

func (e retryAfterErr) Error() string             { return "slow down" }
func (e retryAfterErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryDelay(t *testing.T) {
	o := Options{Store: nil, Jitter: func(d time.Duration) time.Duration { return d }}
	o.defaults()
	w := &Worker{o: o}
	for attempt, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second,
		10: 5 * time.Minute, 1000: 5 * time.Minute, // capped, and no overflow
	} {
		if got := w.retryDelay(attempt, errors.New("x")); got != want {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want)
		}
	}
	wrapped := func(d time.Duration) error { return errors.Join(errors.New("ctx"), retryAfterErr(d)) }
	if got := w.retryDelay(1, wrapped(time.Minute)); got != time.Minute {
		t.Errorf("Retry-After 1m over backoff 1s: %v", got)
	}
	if got := w.retryDelay(3, wrapped(time.Second)); got != 4*time.Second {
		t.Errorf("Retry-After shorter than the backoff: %v, want the backoff", got)
	}
	if got := w.retryDelay(1, wrapped(time.Hour)); got != 5*time.Minute {
		t.Errorf("Retry-After 1h: %v, want capped at BackoffMax", got)
	}
}

func TestStaleAfterOutlastsAClaim(t *testing.T) {
	o := Options{AttemptTimeout: time.Minute, StaleAfter: time.Minute}
	o.defaults()
	if o.StaleAfter < 2*o.AttemptTimeout {
		t.Fatalf("StaleAfter %v: a live claim (up to 2×%v) could be taken for a dead one", o.StaleAfter, o.AttemptTimeout)
	}
}
