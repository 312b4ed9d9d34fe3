package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tombstones"

	"github.com/gatewarden/gatewarden/promapi"
	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/throttle"
)

// API is what a backtest asks a running gatewarden: instant queries of
// its Prometheus-compatible API. promv1.API implements it.
type API interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
}

// source is the recorded data, read-only.
type source struct {
	q     storage.Queryable
	close func() error
}

// openData opens the recorded samples the rules need from From to To:
// the TSDB directory read-only, or a daemon's samples copied into a
// local TSDB under work.
func openData(ctx context.Context, o Options, rs *ruleSet, work string) (*source, error) {
	mint := o.From.Add(-lookback(rs.exprs, o.From)).UnixMilli()
	maxt := o.To.UnixMilli()
	if o.StoragePath != "" {
		// Not OpenDBReadOnly's default, a sandbox inside the daemon's
		// directory: nothing is written there.
		return openReadOnly(tsdbDir(o.StoragePath), cmp.Or(o.SandboxRoot, work), mint, maxt, o.Logger)
	}
	exprs := rs.exprs
	if o.Config.Throttle != nil {
		exprs = append(exprs, throttle.CPUMetric, throttle.MaxConcurrencyMetric) // what its Sampler reads
	}
	db, err := fetch(ctx, o.API, selectors(exprs), mint, maxt, filepath.Join(work, "data"))
	if err != nil {
		return nil, err
	}
	return &source{q: db, close: db.Close}, nil
}

// tsdbDir is the TSDB of a gatewarden storage path: its tsdb directory,
// as the daemon lays it out; a path without one is taken as a TSDB
// directory itself (a copy, or Prometheus's).
func tsdbDir(storage string) string {
	if fi, err := os.Stat(filepath.Join(storage, "tsdb")); err == nil && fi.IsDir() {
		return filepath.Join(storage, "tsdb")
	}
	return storage
}

// lookback is how far before ts the expressions read: ranges, offsets and
// the engine's lookback, as the engine itself computes it.
func lookback(exprs []string, ts time.Time) time.Duration {
	var d time.Duration
	for _, x := range exprs {
		e, err := rules.ParseExpr(x)
		if err != nil {
			continue // the rule files were validated: not reached
		}
		mint, maxt := promql.FindMinMaxTime(&parser.EvalStmt{Expr: e, Start: ts, End: ts, LookbackDelta: promapi.DefaultLookbackDelta})
		if mint == 0 && maxt == 0 {
			continue // selects nothing
		}
		d = max(d, ts.Sub(time.UnixMilli(mint)))
	}
	return d
}

// openReadOnly opens gatewarden's TSDB without writing to it (the daemon
// may be running) and queries it through one querier over the whole
// span: a read-only TSDB replays its WAL for each querier it opens.
func openReadOnly(dir, sandbox string, mint, maxt int64, logger *slog.Logger) (*source, error) {
	db, err := tsdb.OpenDBReadOnly(dir, sandbox, logger)
	if err != nil {
		return nil, fmt.Errorf("backtest: opening %s read-only: %w", dir, err)
	}
	q, err := db.Querier(mint, maxt)
	if err != nil {
		_ = db.Close()
		if strings.Contains(err.Error(), "hardlink") {
			err = fmt.Errorf("%w: put the sandbox on the storage path's file system (--sandbox-dir-root)", err)
		}
		return nil, fmt.Errorf("backtest: reading %s: %w", dir, err)
	}
	return &source{q: &oneQuerier{q: q}, close: func() error { return errors.Join(q.Close(), db.Close()) }}, nil
}

// oneQuerier serves every range from one querier, which the source
// closes. A querier is not safe for concurrent use (its head index
// reader shares a buffer), so the evaluator's queries and the throttle
// workers' take turns: each holds it from Querier to Close.
type oneQuerier struct {
	mu sync.Mutex
	q  storage.Querier
}

func (o *oneQuerier) Querier(int64, int64) (storage.Querier, error) {
	o.mu.Lock()
	return &turn{Querier: o.q, mu: &o.mu}, nil
}

// turn is one query's use of the shared querier; Close ends it.
type turn struct {
	storage.Querier
	mu   *sync.Mutex
	once sync.Once
}

func (t *turn) Close() error {
	t.once.Do(t.mu.Unlock)
	return nil
}

// selectors are the series selectors of the expressions, without
// modifiers, each once: what to fetch from a daemon.
func selectors(exprs []string) []string {
	var out []string
	for _, x := range exprs {
		e, err := rules.ParseExpr(x)
		if err != nil {
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				ms := make([]string, len(vs.LabelMatchers))
				for i, m := range vs.LabelMatchers {
					ms[i] = m.String()
				}
				out = append(out, "{"+strings.Join(ms, ",")+"}")
			}
			return nil
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fetchSpan is the range of one query: an hour of 10 s samples is 360
// per series.
const fetchSpan = time.Hour

// fetch copies the raw samples of the selectors between mint and maxt
// from a daemon into a new TSDB in dir. A range-vector selector at
// successive times returns raw samples, span by span; spans go in time
// order so the appends stay in order, and an out-of-order window over
// the whole span takes what overlapping selectors return twice.
func fetch(ctx context.Context, api API, sels []string, mint, maxt int64, dir string) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1
	opts.OutOfOrderTimeWindow = maxt - mint + 1
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("backtest: local copy: %w", err)
	}
	span := fetchSpan.Milliseconds()
	for from := mint - 1; from < maxt; from += span {
		to := min(from+span, maxt)
		for _, sel := range sels {
			if err := fetchRange(ctx, api, db, sel, from, to); err != nil {
				_ = db.Close()
				return nil, err
			}
		}
	}
	return db, nil
}

// fetchRange appends the samples of sel in (from, to].
func fetchRange(ctx context.Context, api API, db *tsdb.DB, sel string, from, to int64) error {
	q := fmt.Sprintf("%s[%s]", sel, model.Duration(time.Duration(to-from)*time.Millisecond))
	v, _, err := api.Query(ctx, q, time.UnixMilli(to))
	if err != nil {
		return fmt.Errorf("backtest: fetching %s at %s: %w", q, time.UnixMilli(to).UTC().Format(time.RFC3339), err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return fmt.Errorf("backtest: fetching %s: a %s, not a range vector", q, v.Type())
	}
	app := db.Appender(ctx)
	for _, ss := range m {
		ls := labels.FromMap(metricMap(ss.Metric))
		for _, p := range ss.Values {
			if t := int64(p.Timestamp); t > from && t <= to {
				if _, err := app.Append(0, ls, t, float64(p.Value)); err != nil && !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
					_ = app.Rollback()
					return fmt.Errorf("backtest: storing %s: %w", ls, err)
				}
			}
		}
	}
	return app.Commit()
}

func metricMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// view is what the rules read: the recorded samples over the scratch
// store the evaluator writes to. The series the evaluator itself writes
// (recording rules, ALERTS) are hidden in the recorded data from cut on,
// so the backtest reads its own, and the daemon's from before (a daily
// sum over per-minute recordings starts with the recorded history).
type view struct {
	src, scratch storage.Queryable
	own          map[string]bool
	cut          int64
}

func (v view) Querier(mint, maxt int64) (storage.Querier, error) {
	sq, err := v.src.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	wq, err := v.scratch.Querier(mint, maxt)
	if err != nil {
		_ = sq.Close()
		return nil, err
	}
	return storage.NewMergeQuerier([]storage.Querier{hideOwn{sq, v.own, v.cut}, wq}, nil, storage.ChainedSeriesMerge), nil
}

type hideOwn struct {
	storage.Querier
	own map[string]bool
	cut int64
}

func (q hideOwn) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return cutSet{q.Querier.Select(ctx, sortSeries, hints, ms...), q.own, q.cut}
}

type cutSet struct {
	storage.SeriesSet
	own map[string]bool
	cut int64
}

func (s cutSet) At() storage.Series {
	sr := s.SeriesSet.At()
	if !s.own[sr.Labels().Get(labels.MetricName)] {
		return sr
	}
	return cutSeries{sr, s.cut}
}

type cutSeries struct {
	storage.Series
	cut int64
}

// Iterator hides the samples from cut on, as deleted ones.
func (s cutSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	return &tsdb.DeletedIterator{Iter: s.Series.Iterator(it), Intervals: tombstones.Intervals{{Mint: s.cut, Maxt: math.MaxInt64}}}
}
