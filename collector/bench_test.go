package collector

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// benchExposition renders one scrape of a simulated gateway with about 100k
// series: 57 masters × 10 keys × 5 providers × 4 models.
func benchExposition(b *testing.B) (body []byte, contentType string, series int) {
	b.Helper()
	o := gatewaysim.DefaultOptions()
	o.Masters, o.KeysPerMaster, o.Providers, o.Models = 57, 10, 5, 4
	o.BurstsPerHour = 0
	sim, err := gatewaysim.New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 10 {
		sim.Step(now.Add(time.Duration(i) * time.Second))
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	sim.Handler().ServeHTTP(rec, req)
	return rec.Body.Bytes(), rec.Header().Get("Content-Type"), o.SeriesCount()
}

// BenchmarkScrapeAppend measures parse + append of one steady-state scrape
// (every series already cached) into a real TSDB head. The figure to read is
// samples/s; run with -cpu 1 for the per-core number.
func BenchmarkScrapeAppend(b *testing.B) {
	body, ct, series := benchExposition(b)
	db := newTestDB(b)
	sc := scrapeConfig(b, "")
	tg, err := newTarget(sc, "127.0.0.1:9300", nil)
	if err != nil {
		b.Fatal(err)
	}
	l := newLoop("gw", tg, sc, nil, db, newMetrics(prometheus.NewRegistry()), func(Event) {}, slog.New(slog.DiscardHandler))
	ctx, ts := context.Background(), time.Now().UnixMilli()
	st, _, err := l.append(ctx, bytes.NewReader(body), ct, ts) // the first scrape creates the series
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := l.append(ctx, bytes.NewReader(body), ct, ts+int64(i+1)*10_000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.scraped), "samples/scrape")
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(st.scraped)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkFirstScrape measures a target's first scrape, when every series is
// new: label parsing, relabeling and series creation in the head.
func BenchmarkFirstScrape(b *testing.B) {
	body, ct, _ := benchExposition(b)
	sc := scrapeConfig(b, "")
	tg, err := newTarget(sc, "127.0.0.1:9300", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var scraped int
	for b.Loop() {
		b.StopTimer()
		db := newTestDB(b)
		l := newLoop("gw", tg, sc, nil, db, newMetrics(prometheus.NewRegistry()), func(Event) {}, slog.New(slog.DiscardHandler))
		b.StartTimer()
		st, _, err := l.append(context.Background(), bytes.NewReader(body), ct, time.Now().UnixMilli())
		if err != nil {
			b.Fatal(err)
		}
		scraped = st.scraped
	}
	b.ReportMetric(float64(scraped)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
