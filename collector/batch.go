package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/storage"
)

// append reads one scrape's body from r and stores it; a scrape that does
// not parse or breaks a limit stores nothing. Series of the previous scrape
// that are missing get staleness markers, as Prometheus writes them.
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
