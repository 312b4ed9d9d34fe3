package main

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHeapReleaseWaitsForEnoughAndSpacesReleases drives the release with a
// fake clock and heap: nothing under the threshold, one release over it,
// none again within the gap.
func TestHeapReleaseWaitsForEnoughAndSpacesReleases(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	free, calls := uint64(0), 0
	h.now = func() time.Time { return now }
	h.free = func() uint64 { return free }
	h.release = func() { calls++; now = now.Add(80 * time.Millisecond); free = 1 << 20 }

	for _, step := range []struct {
		after time.Duration
		free  uint64
		want  int // releases so far
	}{
		{10 * time.Second, 8 << 20, 0},  // under the threshold
		{10 * time.Second, 50 << 20, 1}, // a burst freed: released
		{20 * time.Second, 40 << 20, 1}, // again, but within the gap
		{50 * time.Second, 40 << 20, 2}, // the gap is over
	} {
		now = now.Add(step.after)
		free = step.free
		h.check()
		if calls != step.want {
			t.Fatalf("%s of free heap at %s: %d releases, want %d", formatMiB(step.free), now.Format(time.TimeOnly), calls, step.want)
		}
	}
	if got := testutil.ToFloat64(h.released); got != float64(49<<20+39<<20) {
		t.Errorf("released bytes = %v, want %v", got, 49<<20+39<<20)
	}
	if got := testutil.ToFloat64(h.releases); got != 2 {
		t.Errorf("releases = %v, want 2", got)
	}
}

// TestHeapReleaseReturnsMemory releases for real: memory a collection
// freed goes back to the OS at once, not when the scavenger gets to it.
func TestHeapReleaseReturnsMemory(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	h.threshold = 8 << 20
	held := make([][]byte, 64)
	for i := range held {
		held[i] = make([]byte, 1<<20)
		held[i][0] = 1
	}
	keep = held
	keep = nil
	runtime.GC()
	h.check()
	if got := testutil.ToFloat64(h.released); got < 32<<20 || freeHeapBytes() > 16<<20 {
		t.Errorf("released %s of the 64 MiB dropped", formatMiB(uint64(got)))
	}
}

var keep [][]byte

func formatMiB(b uint64) string { return fmt.Sprintf("%d MiB", b>>20) }
