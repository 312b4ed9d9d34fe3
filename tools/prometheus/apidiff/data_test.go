package apidiff

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb"
)

// The data set spans t0 to t0+span, one sample every step. The staleness
// marker of gone_total lands at goneAt, so queries before and after it
// see the series and its absence.
var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span   = 5 * time.Minute
	goneAt = t0.Add(2 * time.Minute)
	// queryAt is the time of instant queries, after gone_total went stale.
	queryAt = t0.Add(4 * time.Minute)
)

const step = 15 * time.Second

// store is the TSDB both APIs serve, with what both need besides.
type store struct {
	db    *tsdb.DB
	stats *tsdb.DBStats
	// reg has the TSDB's own metrics, which status/tsdb reads.
	reg *prometheus.Registry
}

func openStore(t *testing.T) *store {
	t.Helper()
	s := &store{stats: tsdb.NewDBStats(), reg: prometheus.NewRegistry()}
	db, err := tsdb.Open(t.TempDir(), nil, s.reg, tsdb.DefaultOptions(), s.stats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s.db = db
	fill(t, db)
	return s
}

// series is one series of the data set: its value at the i-th step, and
// the step from which it is stale (0: never).
type series struct {
	labels  labels.Labels
	value   func(i int) float64
	staleAt int
}

func dataSet() []series {
	steps := int(goneAt.Sub(t0) / step)
	counter := func(rate float64) func(int) float64 { return func(i int) float64 { return rate * float64(i) } }
	bucket := func(le string, rate float64) series {
		return series{labels: labels.FromStrings("__name__", "request_duration_seconds_bucket", "master", "m1", "le", le), value: counter(rate)}
	}
	return []series{
		{labels: labels.FromStrings("__name__", "http_requests_total", "master", "m1", "code", "200"), value: counter(10)},
		{labels: labels.FromStrings("__name__", "http_requests_total", "master", "m1", "code", "500"), value: counter(1)},
		{labels: labels.FromStrings("__name__", "http_requests_total", "master", "m2", "code", "200"), value: counter(3)},
		{labels: labels.FromStrings("__name__", "temperature_celsius", "master", "m1"), value: func(i int) float64 { return 20 + float64(i%7) }},
		bucket("0.1", 2), bucket("1", 5), bucket("+Inf", 6),
		{labels: labels.FromStrings("__name__", "request_duration_seconds_sum", "master", "m1"), value: counter(2.5)},
		{labels: labels.FromStrings("__name__", "request_duration_seconds_count", "master", "m1"), value: counter(6)},
		{labels: labels.FromStrings("__name__", "gone_total", "master", "m3"), value: counter(1), staleAt: steps},
	}
}

// fill appends the data set step by step, as scrapes would, in one
// appender per step.
func fill(t *testing.T, db *tsdb.DB) {
	t.Helper()
	set := dataSet()
	for i := 0; i <= int(span/step); i++ {
		app := db.Appender(context.Background())
		ts := t0.Add(time.Duration(i) * step).UnixMilli()
		for _, s := range set {
			v, ok := s.at(i)
			if !ok {
				continue
			}
			if _, err := app.Append(0, s.labels, ts, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// at is the sample at step i: the value, the staleness marker at staleAt,
// nothing after it.
func (s series) at(i int) (float64, bool) {
	switch {
	case s.staleAt == 0 || i < s.staleAt:
		return s.value(i), true
	case i == s.staleAt:
		return math.Float64frombits(value.StaleNaN), true
	}
	return 0, false
}
