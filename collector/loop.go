package collector

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"
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
	ts := timestamp.FromTime(start)
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
	l.notify(Event{Job: l.job, Target: l.t.labels, Time: start, Err: err, Metrics: names})
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

// append reads one scrape's body from r into one transaction: a scrape
// lands whole or not at all. Series of the previous scrape that are missing
// get staleness markers, as Prometheus writes them.
func (l *loop) append(ctx context.Context, r io.Reader, contentType string, ts int64) (scrapeStats, []string, error) {
	return l.transact(ctx, ts, func(b *batch) error {
		if !isText(contentType) {
			return l.appendParsed(b, r, contentType)
		}
		return l.appendText(b, r)
	})
}

// isText says whether textparse would read contentType with its text
// parser, as it does any type it does not know (the fallback).
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err != nil || mt != "application/openmetrics-text" && mt != "application/vnd.google.protobuf"
}

// appendParsed reads the whole body, then parses it: the formats other
// than text are read this way.
func (l *loop) appendParsed(b *batch, r io.Reader, contentType string) error {
	body, err := l.body.read(r)
	if err != nil {
		return err
	}
	p, perr := textparse.New(body, contentType, l.symbols, textparse.ParserOptions{FallbackContentType: "text/plain"})
	if p == nil {
		return failure(reasonParse, perr)
	}
	return b.parse(p)
}

// transact runs fill, which stages a scrape's samples, then stores them.
// Everything that can fail a scrape in Prometheus (parsing, limits) is
// decided before the first sample is stored, so a failed scrape stores
// nothing.
func (l *loop) transact(ctx context.Context, ts int64, fill func(*batch) error) (st scrapeStats, names []string, err error) {
	l.iter++
	b := &batch{l: l, cr: &creator{app: l.app, ctx: ctx}, ts: ts, cur: l.cur[:0], staged: fitted(l.staged, len(l.prev))}
	defer func() {
		b.cr.flush()
		l.staged = b.staged[:0]
	}()
	if err := fill(b); err != nil {
		return b.st, nil, err
	}
	if limit := int(l.sc.SampleLimit); limit > 0 && b.st.postRelabel > limit {
		return b.st, nil, failure(reasonSampleLimit, fmt.Errorf("sample_limit exceeded: %d samples, limit %d", b.st.postRelabel, limit))
	}
	b.cr.flush() // the series records go to the WAL before the samples naming them
	if err := b.store(ctx); err != nil {
		return b.st, nil, err
	}
	for _, ce := range b.cur {
		if !ce.committed {
			b.st.added++
			ce.committed = true
		}
	}
	l.prev, l.cur = b.cur, l.prev
	l.evict(len(b.cur) + b.droppedSeen)
	l.meta.expire(l.iter)
	return b.st, b.names, nil
}

// samplesPerCommit bounds the samples one storage transaction carries.
// The head's append buffers come from pools that a garbage collection
// empties, so one transaction per 100k-series scrape regrew 17 MB of them
// at every scrape; transactions of this size reuse one set, and the
// samples wait in the loop's own buffer, kept between scrapes.
const samplesPerCommit = 8192

// stagedSample is a sample parsed and checked, waiting to be stored.
// Native histograms, which only protobuf carries, wait beside them.
type stagedSample struct {
	ce *cacheEntry
	t  int64
	v  float64
}

type stagedHistogram struct {
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// fitted is s emptied, or a new slice if s is far from n, the size the
// last scrape needed: kept near it rather than at the power of two that
// growing to it reached.
func fitted[T any](s []T, n int) []T {
	want := n + n/8 + 64
	if cap(s) < n || cap(s) > want+want/4 {
		return make([]T, 0, want)
	}
	return s[:0]
}

// store appends the staged samples, then staleness markers for the series
// the previous scrape had and this one lacks. A query may see part of a
// scrape while this runs, as it may see one target's scrape and not
// another's; a storage error leaves what was committed.
func (b *batch) store(ctx context.Context) error {
	app, n := b.l.app.Appender(ctx), 0
	next := func() error {
		if n++; n < samplesPerCommit {
			return nil
		}
		err := app.Commit()
		app, n = b.l.app.Appender(ctx), 0
		return err
	}
	for i, s := range b.staged {
		if err := b.append(app, s, b.hists[i]); err != nil {
			_ = app.Rollback()
			return err
		}
		if err := next(); err != nil {
			_ = app.Rollback()
			return failure(reasonStorage, err)
		}
	}
	for _, ce := range b.l.prev {
		if ce.lastSeen != b.l.iter && !ce.explicit {
			_, _ = app.Append(ce.ref, ce.lset, b.ts, staleNaN)
		}
	}
	if err := app.Commit(); err != nil {
		return failure(reasonStorage, err)
	}
	return nil
}

func (b *batch) append(app storage.Appender, s stagedSample, h stagedHistogram) error {
	ce := s.ce
	var (
		ref storage.SeriesRef
		err error
	)
	if h.h != nil || h.fh != nil {
		ref, err = app.AppendHistogram(ce.ref, ce.lset, s.t, h.h, h.fh)
	} else {
		ref, err = app.Append(ce.ref, ce.lset, s.t, s.v)
	}
	if err != nil {
		if reason := rejection(err); reason != "" {
			b.st.reject(reason)
			return nil
		}
		return failure(reasonStorage, err)
	}
	ce.ref = ref
	// __name__ sorts first, so Get is a prefix read, with no allocation.
	if name := ce.lset.Get(labels.MetricName); len(b.names) == 0 || b.names[len(b.names)-1] != name {
		b.names = append(b.names, name)
	}
	return nil
}

// batch is one scrape on its way into storage.
type batch struct {
	l           *loop
	cr          *creator
	staged      []stagedSample
	hists       map[int]stagedHistogram // by index in staged
	ts          int64
	cur         []*cacheEntry
	st          scrapeStats
	names       []string
	droppedSeen int
	lset        labels.Labels
	// next is where the coming series stood in the last scrape: targets
	// expose in a stable order, so the cache is mostly read in sequence
	// rather than probed at random.
	next int
}

// lookup finds the cache entry of the series with key.
func (b *batch) lookup(key cacheKey) *cacheEntry {
	prev := b.l.prev
	if b.next < len(prev) && prev[b.next].hash == key.a {
		b.next++
		return prev[b.next-1]
	}
	ce := b.l.cache[key]
	if ce != nil && !ce.dropped {
		b.next = int(ce.pos) + 1 // a wrong guess costs only this probe
	}
	return ce
}

// parse appends what p reads until its end.
func (b *batch) parse(p textparse.Parser) error {
	l := b.l
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return failure(reasonParse, err)
		}
		if l.meta.observe(p, e, l.iter) || (e != textparse.EntrySeries && e != textparse.EntryHistogram) {
			continue
		}
		var (
			met []byte
			tp  *int64
			v   float64
			h   *histogram.Histogram
			fh  *histogram.FloatHistogram
		)
		if e == textparse.EntrySeries {
			met, tp, v = p.Series()
		} else {
			met, tp, h, fh = p.Histogram()
		}
		key := l.keyOf(met)
		ce := b.lookup(key)
		if ce == nil {
			p.Labels(&b.lset)
			if ce, err = l.newEntry(key, b.lset); err != nil {
				return err
			}
		}
		if err := b.add(ce, tp, v, h, fh); err != nil {
			return err
		}
	}
}

// add appends one sample of the series ce stands for.
func (b *batch) add(ce *cacheEntry, tp *int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram) error {
	l := b.l
	b.st.scraped++
	if ce.dropped {
		if ce.lastSeen != l.iter {
			b.droppedSeen++
		}
		ce.lastSeen = l.iter
		return nil
	}
	b.st.postRelabel++
	if limit := int(l.sc.SampleLimit); limit > 0 && b.st.postRelabel > limit {
		return nil // keep counting, so the report says how far over it was
	}
	explicit := tp != nil && l.sc.HonorsTimestamps()
	if ce.lastSeen == l.iter && !explicit {
		// The same series twice in one scrape: the first sample wins, as
		// the TSDB would keep it, and the scrape still counts.
		b.st.reject(rejectDuplicate)
		return nil
	}
	if ce.lastSeen != l.iter {
		ce.pos = int32(len(b.cur))
		b.cur = append(b.cur, ce)
	}
	ce.lastSeen, ce.explicit = l.iter, explicit
	t := b.ts
	if explicit {
		t = *tp
	}
	if ce.ref == 0 && h == nil && fh == nil {
		ce.ref = b.cr.create(ce.lset, t, v)
	}
	if h != nil || fh != nil {
		if b.hists == nil {
			b.hists = map[int]stagedHistogram{}
		}
		b.hists[len(b.staged)] = stagedHistogram{h, fh}
	}
	b.staged = append(b.staged, stagedSample{ce: ce, t: t, v: v})
	return nil
}

// seriesPerBatch bounds the new series one transaction records.
const seriesPerBatch = 5000

// creator makes new series in small transactions of their own, which it
// rolls back: the head keeps a series once created either way, and logs it
// to the WAL. The scrape's own transaction then carries only samples. The
// TSDB keeps the buffer of its largest WAL record for reuse, and a first
// scrape creating 100k series in one record would pin 16 MB for good.
type creator struct {
	app storage.Appendable
	ctx context.Context
	cur storage.Appender
	n   int
}

// create returns the new series' reference, or 0 to leave the creation to
// the scrape's transaction (which then reports the error).
func (c *creator) create(lset labels.Labels, t int64, v float64) storage.SeriesRef {
	if c.cur == nil {
		c.cur = c.app.Appender(c.ctx)
	}
	ref, err := c.cur.Append(0, lset, t, v)
	if c.n++; c.n >= seriesPerBatch {
		c.flush()
	}
	if err != nil {
		return 0
	}
	return ref
}

func (c *creator) flush() {
	if c.cur != nil {
		_ = c.cur.Rollback()
		c.cur, c.n = nil, 0
	}
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

func rejection(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return rejectOutOfOrder
	case errors.Is(err, storage.ErrOutOfBounds):
		return rejectOutOfBound
	case errors.Is(err, storage.ErrTooOldSample):
		return rejectTooOld
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return rejectDuplicate
	}
	return ""
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
