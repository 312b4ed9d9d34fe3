package evaluator

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/gatewarden/gatewarden/rules"
)

// selectCache shares what a selector fetches among the different
// expressions that contain it at one timestamp: `rate(x[1m]) > 5` and
// `increase(x[1m]) > 100` are two queries (the query cache shares only
// identical ones) but one read of x. Only selectors that more than one
// loaded expression contains are kept, so an expression of its own pays
// nothing for the cache.
type selectCache struct {
	shared atomic.Pointer[map[string]bool] // selector keys, from the loaded rules

	mtx  sync.Mutex
	ts   time.Time
	sets map[selectKey]*selectCall
}

type selectKey struct {
	matchers   string
	start, end int64
}

type selectCall struct {
	done   chan struct{}
	series []floatSeries
	ok     bool // false: not cacheable (histograms), the asker reads it itself
}

// share finds the selectors more than one of exprs contains.
func (c *selectCache) share(exprs []string) {
	count := map[string]int{}
	for _, expr := range dedupe(exprs) {
		e, err := rules.ParseExpr(expr)
		if err != nil {
			continue
		}
		seen := map[string]bool{}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				seen[matchersKey(vs.LabelMatchers)] = true
			}
			return nil
		})
		for k := range seen {
			count[k]++
		}
	}
	shared := map[string]bool{}
	for k, n := range count {
		if n > 1 {
			shared[k] = true
		}
	}
	c.shared.Store(&shared)
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func matchersKey(ms []*labels.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// queryable is q with the shared selectors read once per ts.
func (c *selectCache) queryable(q storage.Queryable, ts time.Time) storage.Queryable {
	if p := c.shared.Load(); p == nil || len(*p) == 0 {
		return q
	}
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		inner, err := q.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		return &cachingQuerier{Querier: inner, c: c, ts: ts}, nil
	})
}

type cachingQuerier struct {
	storage.Querier
	c  *selectCache
	ts time.Time
}

func (q *cachingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	key := matchersKey(ms)
	if hints == nil || hints.Func == "series" || hints.Limit > 0 || hints.ShardCount > 0 || !(*q.c.shared.Load())[key] {
		return q.Querier.Select(ctx, sortSeries, hints, ms...)
	}
	call, first := q.c.call(q.ts, selectKey{key, hints.Start, hints.End})
	if call == nil {
		return q.Querier.Select(ctx, sortSeries, hints, ms...)
	}
	if first {
		set := q.Querier.Select(ctx, true, hints, ms...)
		call.series, call.ok = readFloats(set, hints.Start, hints.End)
		close(call.done)
		if err := set.Err(); err != nil || !call.ok {
			return q.Querier.Select(ctx, sortSeries, hints, ms...)
		}
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		return storage.ErrSeriesSet(ctx.Err())
	}
	if !call.ok {
		return q.Querier.Select(ctx, sortSeries, hints, ms...)
	}
	return &replaySet{series: call.series, i: -1}
}

// call returns the shared read of key at ts and whether the caller makes
// it; nil for a timestamp older than the cached one.
func (c *selectCache) call(ts time.Time, key selectKey) (*selectCall, bool) {
	c.mtx.Lock()
	defer c.mtx.Unlock()
	switch {
	case ts.After(c.ts) || c.sets == nil:
		c.ts, c.sets = ts, map[selectKey]*selectCall{}
	case ts.Before(c.ts):
		return nil, false
	}
	if call, ok := c.sets[key]; ok {
		return call, false
	}
	call := &selectCall{done: make(chan struct{})}
	c.sets[key] = call
	return call, true
}

// readFloats copies the float samples of set within [start, end]; ok is
// false when a series holds anything else, which is then not cached.
func readFloats(set storage.SeriesSet, start, end int64) (out []floatSeries, ok bool) {
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		fs := floatSeries{lset: s.Labels()}
		for vt := it.Seek(start); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				return nil, false
			}
			t, f := it.At()
			if t > end {
				break
			}
			fs.pts = append(fs.pts, fpoint{t, f})
		}
		if it.Err() != nil {
			return nil, false
		}
		out = append(out, fs)
	}
	return out, set.Err() == nil
}

// floatSeries is a series read into memory; shared read-only.
type floatSeries struct {
	lset labels.Labels
	pts  fpoints
}

type replaySet struct {
	series []floatSeries
	i      int
}

func (r *replaySet) Next() bool                        { r.i++; return r.i < len(r.series) }
func (r *replaySet) At() storage.Series                { return &r.series[r.i] }
func (r *replaySet) Err() error                        { return nil }
func (r *replaySet) Warnings() annotations.Annotations { return nil }

func (s *floatSeries) Labels() labels.Labels { return s.lset }

func (s *floatSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(s.pts)
}

// fpoints hands out pointers to its elements, so reading a sample boxes
// nothing.
type fpoints []fpoint

func (p fpoints) Get(i int) chunks.Sample { return &p[i] }
func (p fpoints) Len() int                { return len(p) }

type fpoint struct {
	t int64
	f float64
}

func (p *fpoint) T() int64                      { return p.t }
func (p *fpoint) ST() int64                     { return 0 }
func (p *fpoint) F() float64                    { return p.f }
func (p *fpoint) H() *histogram.Histogram       { return nil }
func (p *fpoint) FH() *histogram.FloatHistogram { return nil }
func (p *fpoint) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p *fpoint) Copy() chunks.Sample           { c := *p; return &c }
