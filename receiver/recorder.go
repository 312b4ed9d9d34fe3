package receiver

import (
	"context"
	"errors"
	"hash/fnv"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/store"
)

// Upserter stores alerts by fingerprint and ends expired ones; the store
// implements it.
type Upserter interface {
	UpsertAlerts(ctx context.Context, as []store.Alert) error
	ExpireAlerts(ctx context.Context, now time.Time) (int64, error)
}

const (
	// ExpireInterval is how often alerts past their expires_at are resolved.
	ExpireInterval = 15 * time.Second
	// flushBatch bounds one transaction, so a huge backlog does not hold
	// SQLite's single writer for seconds.
	flushBatch = 2000
)

// ErrBacklog: the store is not keeping up (or is down); ingest answers 503
// so the sender retries, as Alertmanager and Prometheus do.
var ErrBacklog = errors.New("the alert store is not keeping up; try again later")

// Recorder keeps the store's alerts in step with the alerts handed to it,
// off the caller's goroutine: neither the evaluator nor an ingest request
// waits for a disk. Updates of one fingerprint coalesce while they wait, so
// a sender re-posting the same 10,000 alerts costs at most 10,000 rows per
// flush however fast it posts, and a slow store means larger merges rather
// than a growing queue. Failed flushes are retried with backoff; alerts
// stay pending meanwhile.
type Recorder struct {
	store Upserter
	log   *slog.Logger
	now   func() time.Time
	limit int

	mu      sync.Mutex
	pending map[string]pendingAlert
	// written is a digest of what the store holds, or is being written,
	// per fingerprint: a sender re-posting an unchanged alert (every
	// Prometheus and Alertmanager does, every minute or faster) costs no
	// write, and no row is even made for it.
	written map[string]uint64
	seed    maphash.Seed
	failing bool // the last flush failed
	wake    chan struct{}
	// seq numbers the Record calls that queued a change; durable is the
	// highest whose changes are in the store, and flushed is closed (and
	// replaced) whenever durable moves: what ingest waits on before it
	// answers, so an accepted alert survives a kill -9.
	seq, durable uint64
	flushed      chan struct{}

	failures prometheus.Counter
	recorded prometheus.Counter
	expired  prometheus.Counter
	queued   prometheus.GaugeFunc
}

// pendingAlert is a row waiting for the store, with its digest.
type pendingAlert struct {
	row store.Alert
	sum uint64
}

// NewRecorder returns a Recorder holding at most limit distinct pending
// alerts before Record refuses more.
func NewRecorder(s Upserter, limit int, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{store: s, log: logger, now: time.Now, limit: limit, pending: map[string]pendingAlert{}, written: map[string]uint64{},
		seed: maphash.MakeSeed(), wake: make(chan struct{}, 1), flushed: make(chan struct{})}
	r.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alert_record_failures_total",
		Help: "Flushes of alerts to the store that failed and will be retried.",
	})
	r.recorded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alerts_recorded_total",
		Help: "Alert rows written (inserted or updated) in the store.",
	})
	r.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alerts_expired_total",
		Help: "Alerts resolved because their expires_at passed without an update.",
	})
	r.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewarden_alert_record_pending",
		Help: "Distinct alerts waiting to be written to the store.",
	}, func() float64 { r.mu.Lock(); defer r.mu.Unlock(); return float64(len(r.pending)) })
	if reg != nil {
		reg.MustRegister(r.failures, r.recorded, r.expired, r.queued)
	}
	return r
}

// Record queues alerts for the store; it never blocks. It refuses them
// with ErrBacklog while the store is failing or too far behind, unless
// force is set (the evaluator re-sends firing alerts anyway, so it forces
// and relies on coalescing to bound memory). Wait returns once what this
// call changed is in the store.
func (r *Recorder) Record(alerts []Alert, force bool) (Wait, error) {
	if len(alerts) == 0 {
		return noWait, nil
	}
	now := r.now()
	r.mu.Lock()
	refuse := !force && (r.failing || len(r.pending) >= r.limit)
	r.mu.Unlock()
	if refuse {
		return nil, ErrBacklog
	}
	// Digests and rows are made outside the lock, which every ingest
	// request and the flush share; rows only for what changed.
	sums := make([]uint64, len(alerts))
	for i := range alerts {
		sums[i] = r.digest(&alerts[i], now)
	}
	changed := r.changed(alerts, sums)
	if len(changed) == 0 {
		return noWait, nil
	}
	rows := make([]store.Alert, len(changed))
	for j, i := range changed {
		rows[j] = alerts[i].ToStore(now)
		rows[j].ExpiresAt = expiryStep(rows[j].ExpiresAt, rows[j].Fingerprint)
	}
	r.mu.Lock()
	for j, a := range rows {
		if old, waiting := r.pending[a.Fingerprint]; waiting && old.row.CreatedAt.Before(a.CreatedAt) {
			a.CreatedAt = old.row.CreatedAt // the first sighting stays the first
		}
		r.pending[a.Fingerprint] = pendingAlert{a, sums[changed[j]]}
	}
	r.seq++
	seq := r.seq
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return func(ctx context.Context) error { return r.waitFor(ctx, seq) }, nil
}

// Wait blocks until what a Record call changed is in the store, or ctx
// ends.
type Wait func(ctx context.Context) error

func noWait(context.Context) error { return nil }

func (r *Recorder) waitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		done, ch := r.durable >= seq, r.flushed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrBacklog
		}
	}
}

// changed returns the indexes of the alerts whose digest differs from
// what is pending or written for them.
func (r *Recorder) changed(alerts []Alert, sums []uint64) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for i := range alerts {
		fp := alerts[i].Fingerprint()
		if p, waiting := r.pending[fp]; waiting && p.sum == sums[i] || !waiting && r.written[fp] == sums[i] {
			continue
		}
		out = append(out, i)
	}
	return out
}

// take removes up to n pending alerts; they count as written while they
// are, so re-posts meanwhile are not queued again (putBack undoes it).
// Finding none, it marks every Record call so far durable: the flush
// loop writes one batch after another, so all earlier ones are written.
func (r *Recorder) take(n int) []pendingAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 && r.durable < r.seq {
		r.durable = r.seq
		close(r.flushed)
		r.flushed = make(chan struct{})
	}
	out := make([]pendingAlert, 0, min(n, len(r.pending)))
	for fp, a := range r.pending {
		if len(out) == n {
			break
		}
		out = append(out, a)
		delete(r.pending, fp)
		r.written[fp] = a.sum
	}
	return out
}

// expiryStep rounds an expiry up to a step, so a re-post that only moves
// endsAt a little changes nothing the store must hear of. Each alert steps
// at its own offset: 10,000 alerts re-posted every second then cost a
// steady trickle of writes instead of one burst a step, which showed as a
// latency tail of the ingest requests. The step is short because a
// restart rebuilds the receiver's alerts from the stored expiry: an alert
// that expired while gatewarden was down resolves at most a step late.
func expiryStep(t time.Time, fp string) time.Time {
	if t.IsZero() {
		return t
	}
	h := fnv.New32a()
	h.Write([]byte(fp))
	offset := time.Duration(h.Sum32()%uint32(expiryGranularity/time.Millisecond)) * time.Millisecond
	return t.Add(-offset).Truncate(expiryGranularity).Add(expiryGranularity + offset)
}

// expiryGranularity is expiryStep's step.
const expiryGranularity = 5 * time.Second

// digest is what a write of the alert would change. The labels are the
// fingerprint, and the row's type, severity and relations follow from
// them; the rest follows from the annotations, the generator URL, the
// episode and the alert's end, stepped as the row's expiry is.
func (r *Recorder) digest(a *Alert, now time.Time) uint64 {
	var ann uint64
	for k, v := range a.Annotations { // in any order: a sum of the pairs
		ann += maphash.String(r.seed, k) ^ maphash.String(r.seed, v)*0x9e3779b97f4a7c15
	}
	expires, resolved := a.ends(now)
	type fields struct {
		url                            string
		ann, starts, expires, resolved int64
	}
	f := fields{a.GeneratorURL, int64(ann), a.StartsAt.UnixMicro(), expiryStep(expires, a.Fingerprint()).UnixNano(), resolved.UnixNano()}
	return maphash.Comparable(r.seed, f) | 1 // never 0, which means "not written"
}

// markWritten keeps what a successful flush stored; resolved alerts are
// forgotten, so the map holds about the active alerts.
func (r *Recorder) markWritten(b []pendingAlert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.written) > 4*r.limit {
		clear(r.written) // a bound, not a cache policy: the cost is one more write each
	}
	for i := range b {
		if b[i].row.Status == store.StatusResolved {
			delete(r.written, b[i].row.Fingerprint)
			continue
		}
		r.written[b[i].row.Fingerprint] = b[i].sum
	}
}

// putBack returns a failed batch, unless a newer update arrived meanwhile.
func (r *Recorder) putBack(b []pendingAlert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range b {
		delete(r.written, a.row.Fingerprint)
		if _, newer := r.pending[a.row.Fingerprint]; !newer {
			r.pending[a.row.Fingerprint] = a
		}
	}
}

// Run flushes pending alerts and expires old ones until ctx ends, then
// makes a last flush with a short grace so a shutdown keeps the last alerts.
func (r *Recorder) Run(ctx context.Context) error {
	tick := time.NewTicker(ExpireInterval)
	defer tick.Stop()
	var (
		backoff time.Duration
		retryAt time.Time // while failing: when to try again, whatever wakes us meanwhile
	)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(time.Until(retryAt))
		}
		select {
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.flush(drain); err != nil {
				r.log.Warn("recording alerts at shutdown failed", "err", err)
			}
			return nil
		case <-r.wake:
			if backoff > 0 {
				continue // wait for the retry
			}
		case <-retry:
		case <-tick.C:
			if n, err := r.store.ExpireAlerts(ctx, r.now()); err != nil && ctx.Err() == nil {
				r.log.Warn("expiring alerts failed", "err", err)
			} else {
				r.expired.Add(float64(n))
			}
		}
		if err := r.flush(ctx); err != nil && ctx.Err() == nil {
			r.failures.Inc()
			backoff = min(max(2*backoff, time.Second), time.Minute)
			retryAt = time.Now().Add(backoff)
			r.log.Warn("recording alerts in the store failed; retrying", "retry_in", backoff, "err", err)
			continue
		}
		backoff = 0
	}
}

// flush writes every pending alert in batches; on failure the rest stays
// pending and the recorder reports itself failing until a flush succeeds.
func (r *Recorder) flush(ctx context.Context) error {
	for {
		b := r.take(flushBatch)
		if len(b) == 0 {
			r.setFailing(false)
			return nil
		}
		if err := r.store.UpsertAlerts(ctx, rows(b)); err != nil {
			r.putBack(b)
			r.setFailing(true)
			return err
		}
		r.markWritten(b)
		r.recorded.Add(float64(len(b)))
	}
}

func rows(b []pendingAlert) []store.Alert {
	out := make([]store.Alert, len(b))
	for i := range b {
		out[i] = b[i].row
	}
	return out
}

func (r *Recorder) setFailing(v bool) {
	r.mu.Lock()
	r.failing = v
	r.mu.Unlock()
}
