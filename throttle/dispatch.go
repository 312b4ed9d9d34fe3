package throttle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// attempts makes one operation's call until it succeeds, cannot succeed,
// or MaxAttempts are spent. Every attempt carries the same Idempotency-Key,
// so an attempt that timed out after the gateway applied it is not applied
// twice, and every attempt is audited. The second consecutive failure on
// an instance (FailureAlertAfter) raises the level-1 alert at once, while
// the retries go on.
func (c *Controller) attempts(ctx context.Context, pol *Policy, row store.Throttle, req Request) (Applied, error) {
	inst := req.Instance
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
		start := time.Now()
		ap, err := c.o.Gateway.Throttle(actx, req)
		cancel()
		took := time.Since(start)
		d := AuditDecision{MaxConcurrency: req.MaxConcurrency, Attempt: attempt, LatencySeconds: took.Seconds(),
			Actor: row.Actor, Key: req.IdempotencyKey, Step: row.Step, TTLSeconds: req.TTL.Seconds(), Replayed: ap.Replayed}
		if row.Op == opRelease {
			d.Actor = row.ReleasedBy
		}
		if err == nil {
			c.audit(ctx, inst, row.ID, row.Op, "ok", "", d)
			c.mu.Lock()
			delete(c.fails, inst)
			c.mu.Unlock()
			return ap, nil
		}
		reason, retry, unsupported := classify(err)
		if ctx.Err() != nil {
			retry = false // shutting down: the stored row repeats it after the restart
		}
		c.audit(ctx, inst, row.ID, row.Op, reason, err.Error(), d)
		more := retry && attempt < c.o.MaxAttempts
		if n := c.countFailure(inst); n == pol.cfg.FailureAlertAfter && more {
			c.levelOne(ctx, row, n, err)
		}
		if !more {
			return ap, &opError{reason: reason, unsupported: unsupported, err: err}
		}
		if !sleep(ctx, backoff(c.o.RetryBackoff, attempt, err)) {
			return ap, &opError{reason: reason, err: err}
		}
	}
}

func (c *Controller) countFailure(inst Instance) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails[inst]++
	return c.fails[inst]
}

// levelOne raises the critical FAILED alert for consecutive failures
// while retries continue: an operator hears of a sick gateway in seconds,
// not after the last retry.
func (c *Controller) levelOne(ctx context.Context, row store.Throttle, n int, err error) {
	inst := rowInstance(row)
	now := c.o.Clock.Now()
	why := text{fmt.Sprintf("%d consecutive attempts failed, retrying (%v)", n, err), fmt.Sprintf("连续 %d 次尝试失败，正在重试（%v）", n, err)}
	c.mu.Lock()
	ns := c.raise(c.notice(StatusFailed, sevCritical, inst, now, time.Time{}, failedText(inst, why),
		idAnnotations(row.ID, row.OpLimit, row.PreviousMaxConcurrency, "consecutive_failures")))
	c.mu.Unlock()
	c.notify(ctx, ns)
}

// backoff doubles from base per attempt, capped at 10 s, with equal jitter
// so workers retrying one sick gateway spread out; a Retry-After the
// gateway sent wins if longer (up to 30 s).
func backoff(base time.Duration, attempt int, err error) time.Duration {
	d := min(base<<(attempt-1), 10*time.Second)
	if d > 1 {
		d = d/2 + rand.N(d/2)
	}
	var ge *GatewayError
	if errors.As(err, &ge) && ge.RetryAfter > d {
		d = min(ge.RetryAfter, 30*time.Second)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// verifyPoll is how often an unconfirmed call is checked again.
const verifyPoll = 100 * time.Millisecond

// verify confirms an acknowledged call within VerifyTimeout: the gateway's
// list shows the limit (or, for a release, no throttle or the restored
// limit), or the max_concurrency gauge does.
func (c *Controller) verify(ctx context.Context, inst Instance, want int, release bool) error {
	if c.o.Verify == config.VerifyNone {
		return nil
	}
	acked := time.Now()
	vctx, cancel := context.WithTimeout(ctx, c.o.VerifyTimeout)
	defer cancel()
	var last error
	for {
		ok, err := c.check(vctx, inst, want, release, acked)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if !sleep(vctx, verifyPoll) {
			break
		}
		acked = time.Now()
	}
	c.countFailure(inst)
	if last == nil {
		last = fmt.Errorf("max_concurrency %d not in force after %s", want, c.o.VerifyTimeout)
	}
	return &opError{reason: "verify", err: fmt.Errorf("verify: %w", last)}
}

func (c *Controller) check(ctx context.Context, inst Instance, want int, release bool, after time.Time) (bool, error) {
	if c.o.Verify == config.VerifyGauge {
		v, ok, err := c.o.Sampler.MaxConcurrency(ctx, inst)
		return ok && int(v) == want, err
	}
	list, err := c.lists.get(ctx, c.ctx, after, c.o.VerifyTimeout)
	if err != nil {
		return false, err
	}
	a, ok := list[inst]
	if release {
		return !ok || a.MaxConcurrency == want, nil
	}
	return ok && a.MaxConcurrency == want, nil
}

// listShare lets concurrent verifications share GET list calls: a caller
// acknowledged at t needs a fetch started after t. One fetch runs at a
// time; callers that come too late for it wait for the next, which starts
// when it ends (under load, at least minListInterval after it started) and
// serves them all. With 1,000 throttles acknowledged within seconds, the
// gateway is asked for its list a few dozen times, not 1,000 times for up
// to 1,000 entries each.
type listShare struct {
	src  Lister
	mu   sync.Mutex
	cur  *listFetch // the latest started
	next *listFetch // to start once cur ends
}

type listFetch struct {
	started time.Time
	running bool
	done    chan struct{}
	byInst  map[Instance]Applied
	err     error
}

// minListInterval spaces fetches while verifications queue up: decoding a
// list of 1,000 entries costs CPU the calls need more. A verification
// that finds no fetch running never waits for it.
const minListInterval = 50 * time.Millisecond

// get waits for a fetch started at or after after. Fetches run on base
// (the controller's context), not ctx, since other callers share them.
func (l *listShare) get(ctx, base context.Context, after time.Time, timeout time.Duration) (map[Instance]Applied, error) {
	l.mu.Lock()
	var f *listFetch
	switch {
	case l.next != nil:
		f = l.next // not started yet: it starts after our acknowledgement
	case l.cur != nil && !l.cur.started.Before(after):
		f = l.cur
	case l.cur != nil && l.cur.running:
		l.next = &listFetch{done: make(chan struct{})}
		f = l.next
	default:
		f = &listFetch{done: make(chan struct{})}
		l.start(f, base, timeout)
	}
	l.mu.Unlock()
	select {
	case <-f.done:
		return f.byInst, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start runs f, under mu; when it ends, the queued fetch starts.
func (l *listShare) start(f *listFetch, base context.Context, timeout time.Duration) {
	f.started, f.running, l.cur = time.Now(), true, f
	go func() {
		fctx, cancel := context.WithTimeout(base, timeout)
		list, err := l.src.Throttles(fctx)
		cancel()
		f.byInst, f.err = make(map[Instance]Applied, len(list)), err
		for _, a := range list {
			f.byInst[a.Instance] = a
		}
		l.mu.Lock()
		f.running = false
		close(f.done)
		wait := time.Until(f.started.Add(minListInterval))
		l.mu.Unlock()
		if wait > 0 {
			sleep(base, wait)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := l.next; n != nil {
			l.next = nil
			l.start(n, base, timeout)
		}
	}()
}
