package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatewarden/gatewarden/config"
)

var sink [][]byte

// TestMemoryReleaseReturnsFreeMemory drops 64 MB the heap held and
// releases: the runtime hands it back at once, and the metrics say so.
func TestMemoryReleaseReturnsFreeMemory(t *testing.T) {
	m := newMemoryRelease(prometheus.NewRegistry())
	cfg, err := config.Load([]byte("runtime: {release_interval: 1m}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.apply(cfg); err != nil {
		t.Fatal(err)
	}
	if m.interval.Load() != int64(60e9) {
		t.Fatalf("interval = %d ns, want 1m", m.interval.Load())
	}
	for range 64 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1 // touched, so the pages are resident
		}
		sink = append(sink, b)
	}
	sink = nil
	m.release()
	if got := testutil.ToFloat64(m.released); got < 32<<20 {
		t.Errorf("released %.0f bytes of the 64 MB dropped", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("duration series: %d", n)
	}
}
