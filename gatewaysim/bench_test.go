package gatewaysim

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchOptions is a large gateway: 100,000 request series.
func benchOptions() Options {
	o := DefaultOptions()
	benchPopulation(&o)
	return o
}

func benchPopulation(o *Options) {
	o.Masters, o.KeysPerMaster, o.Providers, o.Models = 100, 10, 5, 4
}

func BenchmarkStep(b *testing.B) {
	h := newHarness(b, benchPopulation)
	h.step(10) // past the first steps' setup of histogram buckets
	b.ReportAllocs()
	for b.Loop() {
		h.step(1)
	}
	b.ReportMetric(float64(h.sim.opts.SeriesCount()), "series")
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// gathering and encoding rather than buffering.
type discard struct {
	header http.Header
	n      int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func BenchmarkExposition(b *testing.B) {
	h := newHarness(b, benchPopulation)
	h.step(10)
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	handler := h.sim.Handler()
	w := &discard{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		handler.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(h.sim.opts.SeriesCount()), "series")
	b.ReportMetric(float64(w.n), "bytes/scrape")
}
