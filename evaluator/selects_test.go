package evaluator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// selectCounter counts the selects that reach storage.
type selectCounter struct {
	storage.Queryable
	selects *atomic.Int64
}

func (q selectCounter) Querier(mint, maxt int64) (storage.Querier, error) {
	inner, err := q.Queryable.Querier(mint, maxt)
	return selectCountingQuerier{inner, q.selects}, err
}

type selectCountingQuerier struct {
	storage.Querier
	selects *atomic.Int64
}

func (q selectCountingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	q.selects.Add(1)
	return q.Querier.Select(ctx, sortSeries, hints, ms...)
}

// TestSharedSelectorsReadOnce: expressions that differ but contain the
// same selectors answer as the engine alone answers them, sample by
// sample, while each shared selector reaches storage once per timestamp.
func TestSharedSelectorsReadOnce(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 60 {
		app := db.Appender(context.Background())
		ts := start.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		for s := range 12 {
			if r.IntN(10) == 0 {
				continue // gaps, so lookback and ranges see missing samples
			}
			ls := labels.FromStrings("__name__", "c", "a", fmt.Sprint(s%3), "s", fmt.Sprint(s))
			if _, err := app.Append(0, ls, ts, float64(i*(s+1))+r.Float64()); err != nil {
				t.Fatal(err)
			}
			if _, err := app.Append(0, labels.FromStrings("__name__", "g", "s", fmt.Sprint(s)), ts, r.NormFloat64()); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	exprs := []string{
		"rate(c[1m])", "increase(c[1m])", "sum by (a) (rate(c[1m]))", `rate(c{a="1"}[1m])`,
		"c", "c > 100", "max_over_time(c[1m] offset 30s)", "min_over_time(c[1m] offset 30s)",
		"g", "g * on(s) group_left c", "abs(g)", "count(g > 0)", "avg_over_time(g[2m])", "quantile_over_time(0.9, g[2m])",
	}
	var c selectCache
	c.share(exprs)
	// c's selectors (instant, ranged, offset) are one key, so are g's;
	// c{a="1"} is in one expression only and is not kept.
	if got := *c.shared.Load(); len(got) != 2 || !got[`__name__="c"`] || !got[`__name__="g"`] {
		t.Errorf("shared selector keys %v, want c's and g's", got)
	}
	engine := benchEngine()
	var direct, cached atomic.Int64
	for i := 12; i < 60; i++ {
		ts := start.Add(time.Duration(i)*10*time.Second + time.Duration(i%3)*time.Second)
		for _, e := range exprs {
			want, err := InstantQuery(context.Background(), engine, selectCounter{db, &direct}, e, ts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := InstantQuery(context.Background(), engine, c.queryable(selectCounter{db, &cached}, ts), e, ts)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
				t.Fatalf("%s at %s:\ncached %v\nengine %v", e, ts.Format(time.TimeOnly), got, want)
			}
		}
	}
	t.Logf("%d selects reached storage through the cache, %d without", cached.Load(), direct.Load())
	if cached.Load()*2 > direct.Load() {
		t.Errorf("%d selects reached storage through the cache, %d without: shared selectors were read more than once", cached.Load(), direct.Load())
	}
}

func sorted(v promql.Vector) promql.Vector {
	v = slices.Clone(v)
	slices.SortFunc(v, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
	return v
}
