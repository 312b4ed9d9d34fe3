package promapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
)

func TestNewEngineRegistersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	eng := NewEngine(reg, nil, 0, 0)
	db := openDB(t)
	addSamples(t, db, labels.FromStrings("__name__", "x"), t0, t0.Add(time.Minute), constant(1))
	q, err := eng.NewInstantQuery(context.Background(), db, nil, "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if res := q.Exec(context.Background()); res.Err != nil {
		t.Fatal(res.Err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "prometheus_engine_query_duration_seconds") {
		t.Errorf("engine metrics not registered: %v", names)
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the API rather than a recorder's buffer.
type discard struct {
	h    http.Header
	code int
	n    int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkQueryRange runs range queries over 10,000 series of one hour at
// a 15s scrape interval, answered at a 60s step: 61 points per series.
func BenchmarkQueryRange(b *testing.B) {
	const numSeries = 10000
	db := openDB(b)
	end := t0.Add(time.Hour)
	app := db.Appender(context.Background())
	for i := range numSeries {
		ls := labels.FromStrings("__name__", "gateway_requests_total",
			"instance", "gw-"+strconv.Itoa(i%50)+":9100", "job", "gateway",
			"master", "m"+strconv.Itoa(i/50), "code", "200")
		for ts, j := t0, 0; !ts.After(end); ts, j = ts.Add(scrapeEvery), j+1 {
			if _, err := app.Append(0, ls, ts.UnixMilli(), float64(i+j)); err != nil {
				b.Fatal(err)
			}
		}
		if i%1000 == 999 {
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
			app = db.Appender(context.Background())
		}
	}
	if err := app.Commit(); err != nil {
		b.Fatal(err)
	}
	api := New(Options{Queryable: db, Now: func() time.Time { return end }})
	handler := api.wrap(api.queryRange)

	for _, bc := range []struct{ name, query string }{
		{"raw", "gateway_requests_total"},
		{"rate", "rate(gateway_requests_total[5m])"},
		{"sum_rate", "sum by (instance) (rate(gateway_requests_total[5m]))"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			form := url.Values{
				"query": {bc.query}, "start": {unix(t0)}, "end": {unix(end)}, "step": {"60"},
			}.Encode()
			var bytes int
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/query_range", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := &discard{h: http.Header{}}
				handler.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
				bytes = w.n
			}
			b.ReportMetric(float64(bytes), "resp-bytes")
		})
	}
}
