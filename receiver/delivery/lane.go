package delivery

import (
	"context"
	"sync"
	"time"
)

// lane is one channel's share of the worker: a bound on its concurrent
// sends and on the rate at which they start. Lanes are independent, so a
// slow or failing channel delays only its own notifications.
type lane struct {
	slots chan struct{}

	mu       sync.Mutex
	interval time.Duration // between sends at the steady rate; 0: unlimited
	tau      time.Duration // how far ahead of the steady rate a burst may run
	tat      time.Time     // theoretical arrival time of the next send
}

func newLane(concurrency int, perSecond float64) *lane {
	l := &lane{slots: make(chan struct{}, concurrency)}
	if perSecond > 0 {
		l.interval = time.Duration(float64(time.Second) / perSecond)
		burst := max(1, int(perSecond)) // one second's worth
		l.tau = time.Duration(burst-1) * l.interval
	}
	return l
}

// acquire takes a send slot, giving up after wait or when ctx ends.
func (l *lane) acquire(ctx context.Context, wait time.Duration) bool {
	if ctx.Err() != nil {
		return false // shutting down: start nothing new
	}
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (l *lane) release() { <-l.slots }

// reserve books the next send start under the rate limit (GCRA, the
// virtual-scheduling form of a token bucket) and returns how long to wait
// for it. When the wait would exceed maxWait it books nothing and reports
// false, so a claim that cannot start in time is handed back without
// taking a slot from the items behind it. The clock is a parameter so
// tests can drive it.
func (l *lane) reserve(now time.Time, maxWait time.Duration) (time.Duration, bool) {
	if l.interval == 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	wait := max(tat.Add(-l.tau).Sub(now), 0)
	if wait > maxWait {
		return wait, false
	}
	l.tat = tat.Add(l.interval)
	return wait, true
}
