package receiver

import (
	"context"
	"log/slog"
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

// ExpireInterval is how often alerts past their expires_at are resolved.
const ExpireInterval = 15 * time.Second

// Recorder keeps the store's alerts in step with alerts handed to it, off
// the caller's goroutine: the evaluator must not wait for a disk. Batches
// that fail are retried with backoff; when the queue is full the oldest
// batch is dropped and counted (the evaluator re-sends firing alerts every
// minute, so a dropped one comes back).
type Recorder struct {
	store   Upserter
	log     *slog.Logger
	queue   chan []store.Alert
	now     func() time.Time
	backoff time.Duration

	dropped  prometheus.Counter
	failures prometheus.Counter
	recorded prometheus.Counter
	expired  prometheus.Counter
	pending  prometheus.GaugeFunc
}

// NewRecorder returns a Recorder queueing up to size batches.
func NewRecorder(s Upserter, size int, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{store: s, log: logger, queue: make(chan []store.Alert, size), now: time.Now, backoff: time.Second}
	r.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alert_records_dropped_total",
		Help: "Batches of alerts not recorded in the store because the queue was full.",
	})
	r.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alert_record_failures_total",
		Help: "Attempts to record a batch of alerts in the store that failed and will be retried.",
	})
	r.recorded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alerts_recorded_total",
		Help: "Alerts recorded (inserted or updated) in the store.",
	})
	r.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_alerts_expired_total",
		Help: "Alerts resolved because their expires_at passed without an update.",
	})
	r.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewarden_alert_record_queue_length",
		Help: "Batches of alerts waiting to be recorded in the store.",
	}, func() float64 { return float64(len(r.queue)) })
	if reg != nil {
		reg.MustRegister(r.dropped, r.failures, r.recorded, r.expired, r.pending)
	}
	return r
}

// Record queues alerts; it never blocks.
func (r *Recorder) Record(alerts []Alert) {
	if len(alerts) == 0 {
		return
	}
	now := r.now()
	batch := make([]store.Alert, len(alerts))
	for i := range alerts {
		batch[i] = alerts[i].ToStore(now)
	}
	for {
		select {
		case r.queue <- batch:
			return
		default:
		}
		select {
		case <-r.queue:
			r.dropped.Inc()
		default:
		}
	}
}

// Run records queued batches and expires alerts until ctx ends, then
// drains what is queued with a short grace so a shutdown keeps the last
// alerts.
func (r *Recorder) Run(ctx context.Context) error {
	tick := time.NewTicker(ExpireInterval)
	defer tick.Stop()
	for {
		select {
		case b := <-r.queue:
			r.write(ctx, b)
		case <-tick.C:
			n, err := r.store.ExpireAlerts(ctx, r.now())
			if err != nil && ctx.Err() == nil {
				r.log.Warn("expiring alerts failed", "err", err)
			}
			r.expired.Add(float64(n))
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for {
				select {
				case b := <-r.queue:
					if err := r.store.UpsertAlerts(drain, b); err != nil {
						r.log.Warn("recording alerts at shutdown failed", "alerts", len(b), "err", err)
					}
				default:
					return nil
				}
			}
		}
	}
}

// write retries one batch until it lands or ctx ends, doubling the wait
// up to a minute.
func (r *Recorder) write(ctx context.Context, b []store.Alert) {
	wait := r.backoff
	for {
		err := r.store.UpsertAlerts(ctx, b)
		if err == nil {
			r.recorded.Add(float64(len(b)))
			return
		}
		r.failures.Inc()
		r.log.Warn("recording alerts in the store failed; retrying", "alerts", len(b), "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			select {
			case r.queue <- b: // kept for the shutdown drain
			default:
				r.dropped.Inc()
			}
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}
