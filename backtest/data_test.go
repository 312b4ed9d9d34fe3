package backtest

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// TestViewHidesOwnSeriesFromCut: the rules read the daemon's recordings
// before the backtest starts and the backtest's own after; other series
// are the recorded ones throughout.
func TestViewHidesOwnSeriesFromCut(t *testing.T) {
	open := func(name string) *tsdb.DB {
		db, err := tsdb.Open(filepath.Join(t.TempDir(), name), nil, nil, tsdb.DefaultOptions(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	// add appends values a minute apart, the first at offset from t0.
	add := func(db *tsdb.DB, name string, offset time.Duration, values ...float64) {
		app := db.Appender(context.Background())
		for i, v := range values {
			at := t0.Add(offset + time.Duration(i)*time.Minute)
			if _, err := app.Append(0, labels.FromStrings("__name__", name, "master", "m1"), at.UnixMilli(), v); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	const rec = "master:gateway_requests:increase1m"
	src, scratch := open("src"), open("scratch")
	add(src, rec, -2*time.Minute, 1, 2, 3, 4)
	add(src, "gateway_requests_total", -time.Minute, 10, 20, 30)
	add(scratch, rec, time.Minute, 99)
	v := view{src: src, scratch: scratch, own: map[string]bool{rec: true}, cut: t0.UnixMilli()}

	read := func(name string) []float64 {
		q, err := v.Querier(t0.Add(-time.Hour).UnixMilli(), t0.Add(time.Hour).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
		var out []float64
		var it chunkenc.Iterator
		for ss.Next() {
			it = ss.At().Iterator(it)
			for it.Next() != chunkenc.ValNone {
				_, f := it.At()
				out = append(out, f)
			}
		}
		if err := ss.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := read(rec), []float64{1, 2, 99}; !slices.Equal(got, want) {
		t.Errorf("%s: %v, want the recorded ones before the cut, then the backtest's: %v", rec, got, want)
	}
	if got, want := read("gateway_requests_total"), []float64{10, 20, 30}; !slices.Equal(got, want) {
		t.Errorf("a recorded series: %v, want %v", got, want)
	}
}
