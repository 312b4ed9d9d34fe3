package collector

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
)

// Event tells subscribers that a scrape has landed in storage, so rules that
// read its series can be evaluated at once instead of at the next tick.
type Event struct {
	Job    string
	Target labels.Labels
	// Time is the scrape's timestamp, the one its samples carry.
	Time time.Time
	Err  error
	// Metrics names the metric families that landed, in exposition order.
	Metrics []string
}

// cacheEntry remembers what one exposition line became, so a steady target
// costs a map lookup per sample rather than a label parse and relabeling.
type cacheEntry struct {
	ref  storage.SeriesRef
	lset labels.Labels
	// hash is the first half of the series' key: enough to confirm a
	// guess at its position (a false match is a 2⁻⁶⁴ chance per line).
	hash     uint64
	lastSeen uint64
	// pos is the series' place in the last scrape that had it, so the
	// next scrape finds it there first.
	pos       int32
	dropped   bool // metric relabeling dropped it
	explicit  bool // its last sample carried a timestamp: no staleness marker, as in Prometheus
	committed bool // a scrape with it has landed, so it is no longer new
}

// scrapeStats feeds the scrape_* meta series and the rejection counters.
type scrapeStats struct {
	scraped, postRelabel, added int
	rejected                    map[string]int
}

func (s *scrapeStats) reject(reason string) {
	if s.rejected == nil {
		s.rejected = map[string]int{}
	}
	s.rejected[reason]++
}

// The meta series Prometheus writes for every target after every scrape.
var reportNames = [...]string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

// loop scrapes one target at its interval. Everything but status is owned by
// the loop's goroutine.
type loop struct {
	job     string
	t       *target
	sc      *config.ScrapeConfig
	app     storage.Appendable
	fetcher fetcher
	m       *metrics
	notify  func(Event)
	logger  *slog.Logger

	body       bodyBuffer
	text       textState
	windowSize int // the text reader's window, small in tests to cut lines
	symbols    *labels.SymbolTable
	lb         *labels.Builder
	cache      map[cacheKey]*cacheEntry
	prev, cur  []*cacheEntry
	staged     []stagedSample
	iter       uint64
	reportLset [len(reportNames)]labels.Labels
	reportRef  [len(reportNames)]storage.SeriesRef
	lastTs     int64 // the last scrape's timestamp

	mtx    sync.Mutex
	status TargetStatus
	meta   *metadataCache // has its own lock: API requests read it

	now         func() time.Time // injectable for tests
	schedule    schedule
	staleOnStop atomic.Bool
	cancel      context.CancelFunc
	done        chan struct{}
}

func newLoop(job string, t *target, sc *config.ScrapeConfig, client *http.Client, app storage.Appendable, m *metrics, notify func(Event), logger *slog.Logger) *loop {
	l := &loop{
		job: job, t: t, sc: sc, app: app, m: m, notify: notify,
		logger:     logger.With("target", t.url),
		symbols:    labels.NewSymbolTable(),
		lb:         labels.NewBuilder(labels.EmptyLabels()),
		cache:      map[cacheKey]*cacheEntry{},
		fetcher:    fetcher{client: client, url: t.url, limit: int64(sc.BodySizeLimit), timeout: formatSeconds(t.timeout.Seconds())},
		meta:       newMetadataCache(),
		windowSize: minWindow,
		done:       make(chan struct{}),
		now:        time.Now,
	}
	for i, name := range reportNames {
		l.reportLset[i] = labels.NewBuilder(t.labels).Set(labels.MetricName, name).Labels()
	}
	l.status = TargetStatus{
		DiscoveredLabels: t.discovered, Labels: t.labels, ScrapePool: job, ScrapeURL: t.url,
		Health: HealthUnknown, ScrapeInterval: t.interval, ScrapeTimeout: t.timeout,
	}
	return l
}

// run scrapes at a fixed offset within the interval derived from the
// target's labels, so many targets spread out instead of scraping in bursts.
func (l *loop) run(ctx context.Context) {
	defer close(l.done)
	iv := l.t.interval.Nanoseconds()
	offset := (int64(l.t.labels.Hash()%uint64(iv)) - l.now().UnixNano()%iv + iv) % iv
	select {
	case <-time.After(time.Duration(offset)):
	case <-ctx.Done():
		l.end()
		return
	}
	tick := time.NewTicker(l.t.interval)
	defer tick.Stop()
	for {
		l.scrape(ctx, l.now())
		select {
		case <-ctx.Done():
			l.end()
			return
		case <-tick.C:
		}
	}
}

// scrape performs one scrape at start and records its outcome everywhere:
// storage, meta series, status, metrics and subscribers.
func (l *loop) scrape(ctx context.Context, start time.Time) {
	began := time.Now() // the duration is real time even when start is not
	// The samples carry the slot on the grid; the target's status, as
	// Prometheus's, the time the scrape started.
	slot := l.schedule.at(start)
	ts := timestamp.FromTime(slot)
	var (
		st    scrapeStats
		names []string
	)
	sctx, cancel := context.WithTimeout(ctx, l.t.timeout)
	err := l.fetcher.fetch(sctx, func(r io.Reader, contentType string) error {
		var err error
		st, names, err = l.append(ctx, r, contentType, ts)
		return err
	})
	cancel()
	if ctx.Err() != nil {
		return // shutting down: an interrupted scrape is not a failed one
	}
	l.lastTs = ts
	if fetchFailed(err) {
		st, names = scrapeStats{}, nil // as Prometheus: a body not received was not scraped
	}
	if err != nil {
		l.staleAll(ctx, ts)
	}
	dur := time.Since(began)
	l.writeReport(ctx, ts, dur, st, err)
	l.record(start, dur, st, err)
	l.notify(Event{Job: l.job, Target: l.t.labels, Time: slot, Err: err, Metrics: names})
}

func (l *loop) record(start time.Time, dur time.Duration, st scrapeStats, err error) {
	l.m.scrapes.WithLabelValues(l.job).Inc()
	l.m.duration.WithLabelValues(l.job).Observe(dur.Seconds())
	for reason, n := range st.rejected {
		l.m.rejected.WithLabelValues(l.job, reason).Add(float64(n))
	}
	l.mtx.Lock()
	defer l.mtx.Unlock()
	l.status.LastScrape, l.status.LastScrapeDuration = start, dur
	l.status.Health, l.status.LastError = HealthGood, ""
	if err != nil {
		reason := reasonHTTP
		var se *scrapeError
		if errors.As(err, &se) {
			reason = se.reason
		}
		l.m.failures.WithLabelValues(l.job, reason).Inc()
		l.status.Health, l.status.LastError = HealthBad, err.Error()
		l.logger.Debug("scrape failed", "reason", reason, "err", err)
	}
}

func (l *loop) metadata() TargetMetadata {
	return TargetMetadata{Labels: l.t.labels, ScrapePool: l.job, Metrics: l.meta.list()}
}

func (l *loop) snapshot() TargetStatus {
	l.mtx.Lock()
	defer l.mtx.Unlock()
	return l.status
}

// evict forgets series the last successful scrape did not have: gone from
// the target, or only seen in scrapes that failed. Most scrapes have none,
// and skip the walk.
func (l *loop) evict(seen int) {
	if len(l.cache) > seen {
		for k, ce := range l.cache {
			if ce.lastSeen != l.iter {
				delete(l.cache, k)
			}
		}
	}
	l.m.cachedSeries.WithLabelValues(l.job).Set(float64(len(l.cache)))
}

// keyOf identifies an exposition line by two independent 64-bit hashes
// rather than by its text: 16 bytes instead of ~150 per series, and a
// collision less likely than a cosmic-ray bit flip.
func (l *loop) keyOf(met []byte) cacheKey {
	return cacheKey{maphash.Bytes(seedA, met), maphash.Bytes(seedB, met)}
}

type cacheKey struct{ a, b uint64 }

var seedA, seedB = maphash.MakeSeed(), maphash.MakeSeed()

// newEntry labels a series seen for the first time: target labels merged as
// honor_labels says, metric relabeling, then the limits and name checks that
// fail the scrape in Prometheus.
func (l *loop) newEntry(key cacheKey, lset labels.Labels) (*cacheEntry, error) {
	ce := &cacheEntry{hash: key.a}
	lset = l.mutate(lset)
	if lset.IsEmpty() {
		ce.dropped = true
		l.cache[key] = ce
		return ce, nil
	}
	if !lset.Has(labels.MetricName) || !lset.IsValid(model.UTF8Validation) {
		return nil, failure(reasonParse, fmt.Errorf("invalid metric name or label names: %s", lset.String()))
	}
	if limit := int(l.sc.LabelLimit); limit > 0 && lset.Len() > limit {
		return nil, failure(reasonLabelLimit, fmt.Errorf("label_limit exceeded: %d labels on %s, limit %d", lset.Len(), lset.Get(labels.MetricName), limit))
	}
	ce.lset = lset
	l.cache[key] = ce
	return ce, nil
}

func (l *loop) mutate(lset labels.Labels) labels.Labels {
	lb := l.lb
	lb.Reset(lset)
	l.t.labels.Range(func(tl labels.Label) {
		existing := lset.Get(tl.Name)
		if existing != "" && l.sc.HonorLabels {
			return
		}
		if existing != "" {
			// As Prometheus: the exposed value moves to exported_<name>,
			// or exported_exported_<name> if that is taken too.
			name := model.ExportedLabelPrefix + tl.Name
			for lset.Has(name) {
				name = model.ExportedLabelPrefix + name
			}
			lb.Set(name, existing)
		}
		lb.Set(tl.Name, tl.Value)
	})
	if !relabel.ProcessBuilder(lb, l.sc.MetricRelabeling()...) {
		return labels.EmptyLabels()
	}
	return lb.Labels()
}

func fetchFailed(err error) bool {
	var se *scrapeError
	return errors.As(err, &se) && (se.reason == reasonHTTP || se.reason == reasonTimeout || se.reason == reasonBodySize)
}

// staleAll marks every series of the last successful scrape stale, as a
// failed scrape means they can no longer be vouched for.
func (l *loop) staleAll(ctx context.Context, ts int64) {
	if len(l.prev) == 0 {
		return
	}
	app := l.app.Appender(ctx)
	for _, ce := range l.prev {
		if !ce.explicit {
			_, _ = app.Append(ce.ref, ce.lset, ts, staleNaN)
		}
	}
	if err := app.Commit(); err != nil {
		l.logger.Warn("writing staleness markers failed", "err", err)
	}
	l.prev = l.prev[:0]
}

func (l *loop) writeReport(ctx context.Context, ts int64, dur time.Duration, st scrapeStats, err error) {
	up := 1.0
	if err != nil {
		up = 0
	}
	l.appendReport(ctx, ts, [len(reportNames)]float64{up, dur.Seconds(), float64(st.scraped), float64(st.postRelabel), float64(st.added)})
}

func (l *loop) appendReport(ctx context.Context, ts int64, vals [len(reportNames)]float64) {
	app := l.app.Appender(ctx)
	for i, v := range vals {
		ref, err := app.Append(l.reportRef[i], l.reportLset[i], ts, v)
		if err != nil {
			l.logger.Warn("appending scrape report failed", "series", reportNames[i], "err", err)
			continue
		}
		l.reportRef[i] = ref
	}
	if err := app.Commit(); err != nil {
		l.logger.Warn("committing scrape report failed", "err", err)
	}
}

// end runs when the loop stops. A target that left the config gets
// staleness markers for everything it exposed; at shutdown nothing is
// written, so series continue after a restart.
func (l *loop) end() {
	if !l.staleOnStop.Load() || l.lastTs == 0 {
		return // nothing was ever written for this target
	}
	// Never at or before the last scrape's timestamp, where the TSDB would
	// refuse the marker as a duplicate.
	ctx, ts := context.Background(), max(timestamp.FromTime(l.now()), l.lastTs+1)
	l.staleAll(ctx, ts)
	var stale [len(reportNames)]float64
	for i := range stale {
		stale[i] = staleNaN
	}
	l.appendReport(ctx, ts, stale)
}

func (l *loop) stop(stale bool) {
	l.staleOnStop.Store(stale)
	l.cancel()
	<-l.done
}

// staleNaN is the float Prometheus reads as "this series ended".
var staleNaN = math.Float64frombits(value.StaleNaN)
