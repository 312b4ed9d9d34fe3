// Package delivery is the outbox worker: it sends the notifications the
// receiver wrote to the outbox, with retries, per-channel concurrency and
// rate limits, and records every attempt in the delivery history.
//
// Guarantees and their limits:
//
//   - At least once. An item is marked sent only after its integration
//     reported success, so a crash between the two resends it once after
//     restart. Nothing already marked sent is sent again: a claim is a
//     conditional UPDATE (pending → sending) that concurrent workers, in
//     this process or in other receivers on one PostgreSQL store, never
//     share.
//   - A crashed worker's claims stay in 'sending' until StaleAfter has
//     passed; RequeueStale (at start and every StaleAfter/2) returns them to
//     pending. A worker holds a claim at most 2×AttemptTimeout (waiting for
//     its channel's lane, then sending), so StaleAfter is kept above that:
//     a live worker's claim is never mistaken for a dead one's. Receivers
//     sharing a store must use the same StaleAfter.
//   - A graceful shutdown stops claiming, lets sends in progress finish
//     (each bounded by AttemptTimeout) and gives claims that have not
//     started back to pending at once, so the next process sends them
//     without waiting for StaleAfter.
//
// Channels: the channel is read at every attempt, so an edit counts from
// the next one. A disabled channel's items are finished unsent (state
// sent, history "suppressed", reason "channel disabled") rather than held:
// enabling it again must not release a flood of stale notifications. An
// item whose channel is gone fails at once with that reason.
//
// Attempts counts claims (the store's definition). A claim given back
// unsent (shutdown, or a lane too busy to start it within AttemptTimeout)
// is one, so attempt numbers in the history can skip in those cases.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// Store is the part of *store.Store the worker uses.
type Store interface {
	ClaimDue(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error)
	MarkSent(ctx context.Context, id int64) error
	MarkSuppressed(ctx context.Context, id int64, reason string) error
	MarkFailed(ctx context.Context, id int64, lastErr string, next time.Time) error
	RequeueStale(ctx context.Context, olderThan time.Time) (int64, error)
	GetChannel(ctx context.Context, id int64) (store.Channel, error)
}

var _ Store = (*store.Store)(nil)

// Builder makes a channel's integration from its type and JSON config;
// *receiver.Integrations is one. It is asked at every attempt, so a
// reload or an edit counts from the next one; it keeps what it built.
type Builder interface {
	Notifier(typ string, cfg json.RawMessage) (message.Notifier, error)
}

// NoRateLimit as Options.RatePerSecond turns the per-channel rate limit off.
// (Zero means the default, as for every other option.)
const NoRateLimit = -1

// Defaults for the zero values of Options.
const (
	DefaultPollInterval     = time.Second
	DefaultBatchSize        = 64
	DefaultConcurrency      = 2
	DefaultRatePerSecond    = 10
	DefaultBackoffBase      = time.Second
	DefaultBackoffMax       = 5 * time.Minute
	DefaultMaxAge           = 24 * time.Hour
	DefaultAttemptTimeout   = 30 * time.Second
	DefaultStaleAfter       = 2 * time.Minute
	DefaultFailingThreshold = 5
)

// Options configures a Worker. Store and Builder are required.
type Options struct {
	Store      Store
	Builder    Builder
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics exposed

	// Now is the clock for due times, backoff, age, staleness and history
	// timestamps; tests inject one to step through retries without
	// waiting. Waits within the process (rate limit, a busy lane, a send's
	// timeout) run on real time.
	Now func() time.Time
	// Jitter returns a random duration in [0, d]; default uniform ("full
	// jitter"). Tests make it deterministic.
	Jitter func(d time.Duration) time.Duration

	// PollInterval is how often the outbox is checked for due items when
	// nothing woke the worker: retries come due this way.
	PollInterval time.Duration
	// BatchSize is the most items claimed and not yet finished at once,
	// across channels. Claims are only made for free places, so the
	// outbox, not memory, holds a backlog.
	BatchSize int
	// Concurrency is the most sends in progress per channel.
	Concurrency int
	// RatePerSecond is the most sends started per second per channel, with
	// a burst of one second's worth; NoRateLimit turns it off. Feishu
	// integrations also keep under Feishu's own limits.
	RatePerSecond float64

	// Retries wait min(BackoffMax, BackoffBase×2^(attempt-1)) with full
	// jitter, or the integration's Retry-After when longer (capped by
	// BackoffMax).
	BackoffBase, BackoffMax time.Duration
	// MaxAge: an item older than this (since enqueued) when an attempt
	// fails is given up.
	MaxAge time.Duration
	// AttemptTimeout bounds one send, and how long a claim may wait for
	// its channel's lane before it is given back.
	AttemptTimeout time.Duration
	// StaleAfter: claims older than this belong to a crashed worker. It is
	// raised to at least 3×AttemptTimeout (see the package comment).
	StaleAfter time.Duration

	// FailingThreshold consecutive failed attempts on one channel make it
	// failing: OnFailing is called once, and OnRecovered after its next
	// success. The callbacks run one at a time, in order, on a delivery
	// goroutine; they must return quickly (enqueue an alert and Wake, say).
	// The channel is passed without its Config: an alert about a channel
	// must not carry the channel's secrets. Rate-limit refusals neither
	// count nor reset the streak: the channel works, it is busy.
	FailingThreshold int
	OnFailing        func(ch store.Channel, consecutive int, lastErr error)
	OnRecovered      func(ch store.Channel)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d + 1)
		}
	}
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.PollInterval, DefaultPollInterval)
	set(&o.BackoffBase, DefaultBackoffBase)
	set(&o.BackoffMax, DefaultBackoffMax)
	set(&o.MaxAge, DefaultMaxAge)
	set(&o.AttemptTimeout, DefaultAttemptTimeout)
	set(&o.StaleAfter, DefaultStaleAfter)
	o.StaleAfter = max(o.StaleAfter, 3*o.AttemptTimeout)
	o.BackoffMax = max(o.BackoffMax, o.BackoffBase)
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = DefaultRatePerSecond
	}
	if o.FailingThreshold <= 0 {
		o.FailingThreshold = DefaultFailingThreshold
	}
}

// Worker sends due outbox items. Run it once; Wake is safe from any
// goroutine.
type Worker struct {
	o   Options
	log *slog.Logger
	m   *metrics

	wake  chan struct{} // Wake: claim now
	freed chan struct{} // a claim finished: there is room again
	wg    sync.WaitGroup
	held  atomic.Int64 // claims not yet finished
	ran   atomic.Bool  // Run has been called

	mu       sync.Mutex
	lanes    map[int64]*lane
	names    map[int64]string // last known name, for metrics of a deleted channel
	healthMu sync.Mutex       // serialises health changes and their callbacks
	health   map[int64]*channelHealth
}

// New returns a worker; it does nothing until Run. Store and Builder are
// required.
func New(o Options) *Worker {
	if o.Store == nil || o.Builder == nil {
		panic("delivery: Options.Store and Options.Builder are required")
	}
	o.defaults()
	return &Worker{
		o: o, log: o.Logger, m: newMetrics(o.Registerer),
		wake: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		lanes: map[int64]*lane{},
		names: map[int64]string{}, health: map[int64]*channelHealth{},
	}
}

// Wake makes the worker look for due items now instead of at the next
// poll; call it after an Enqueue. It never blocks, and wakes that arrive
// during a claim are not lost: one more claim follows.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and sends due items until ctx ends, then waits for sends in
// progress and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if w.ran.Swap(true) {
		return errors.New("delivery: Run called twice")
	}
	w.requeueStale(ctx)
	lastRequeue := w.o.Now()
	tick := time.NewTicker(w.o.PollInterval)
	defer tick.Stop()
	for {
		if now := w.o.Now(); now.Sub(lastRequeue) >= w.o.StaleAfter/2 || now.Before(lastRequeue) {
			w.requeueStale(ctx)
			lastRequeue = now
		}
		more := w.claim(ctx)
	wait:
		for {
			select {
			case <-ctx.Done():
				w.wg.Wait()
				return nil
			case <-w.wake:
				break wait
			case <-tick.C:
				break wait
			case <-w.freed:
				// Only worth a query when the last claim was cut short by
				// the lack of room (otherwise nothing more is due yet), and
				// once a quarter of the places are free: one claim per
				// finished item would double the writes of a backlog. The
				// poll claims whatever room there is.
				if more && w.o.BatchSize-int(w.held.Load()) >= max(1, w.o.BatchSize/4) {
					break wait
				}
			}
		}
	}
}

// claim takes up to the free places' worth of due items and starts each.
// It reports whether more may be due than it could take.
func (w *Worker) claim(ctx context.Context) (more bool) {
	free := w.o.BatchSize - int(w.held.Load())
	if free <= 0 || ctx.Err() != nil {
		return true
	}
	// Not ctx itself: a claim cancelled after the database ran it would
	// leave rows in 'sending' that nobody holds until StaleAfter. Items
	// claimed as ctx ends are given back by deliver at once.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.AttemptTimeout)
	items, err := w.o.Store.ClaimDue(cctx, w.o.Now(), free)
	cancel()
	if err != nil {
		w.log.Warn("claiming due notifications failed", "err", err)
		return false
	}
	claimedAt := time.Now() // real time: the claim's age is what StaleAfter measures
	for _, it := range items {
		w.held.Add(1)
		w.m.claimed.Inc()
		w.wg.Go(func() {
			defer func() {
				w.held.Add(-1)
				w.m.claimed.Dec()
				select {
				case w.freed <- struct{}{}:
				default:
				}
			}()
			w.deliver(ctx, it, claimedAt)
		})
	}
	return len(items) == free
}

func (w *Worker) requeueStale(ctx context.Context) {
	n, err := w.o.Store.RequeueStale(ctx, w.o.Now().Add(-w.o.StaleAfter))
	switch {
	case err != nil && ctx.Err() == nil:
		w.log.Warn("requeueing stale notifications failed", "err", err)
	case n > 0:
		w.log.Info("requeued notifications claimed by a worker that stopped", "items", n, "stale_after", w.o.StaleAfter)
	}
}

// lane returns the channel's lane, made on first use.
func (w *Worker) lane(id int64) *lane {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.lanes[id]
	if l == nil {
		l = newLane(w.o.Concurrency, w.o.RatePerSecond)
		w.lanes[id] = l
	}
	return l
}

// retryDelay is the wait before attempt+1: exponential backoff with full
// jitter, or the integration's Retry-After when that is longer.
func (w *Worker) retryDelay(attempt int, err error) time.Duration {
	d := w.o.BackoffBase
	for i := 1; i < attempt && d < w.o.BackoffMax; i++ {
		d *= 2
	}
	d = w.o.Jitter(min(d, w.o.BackoffMax))
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		d = max(d, min(ra.RetryAfter(), w.o.BackoffMax))
	}
	return d
}
