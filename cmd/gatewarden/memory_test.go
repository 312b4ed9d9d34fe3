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
// fake clock and heap: nothing under the threshold (16 MiB, or an eighth
// of the heap's goal), one release over it, none again within the gap.
func TestHeapReleaseWaitsForEnoughAndSpacesReleases(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	heap := heapState{goal: 100 << 20}
	calls := 0
	h.now = func() time.Time { return now }
	h.read = func() heapState { return heap }
	h.release = func() {
		calls++
		now = now.Add(80 * time.Millisecond)
		// The release's own collection frees 10 MiB more, returned too.
		heap.released += heap.free + 10<<20
		heap.free = 0
	}

	for _, step := range []struct {
		after      time.Duration
		free, goal uint64
		want       int // releases so far
	}{
		{10 * time.Second, 8 << 20, 100 << 20, 0},  // under 16 MiB
		{10 * time.Second, 50 << 20, 100 << 20, 1}, // a burst freed: released
		{20 * time.Second, 40 << 20, 100 << 20, 1}, // again, but within the gap
		{50 * time.Second, 40 << 20, 400 << 20, 1}, // the gap is over, but a big heap keeps 50 MiB free
		{10 * time.Second, 60 << 20, 400 << 20, 2}, // over an eighth of its goal
	} {
		now = now.Add(step.after)
		heap.free, heap.goal = step.free, step.goal
		h.check()
		if calls != step.want {
			t.Fatalf("%s free of a %s goal at %s: %d releases, want %d", mib(step.free), mib(step.goal), now.Format(time.TimeOnly), calls, step.want)
		}
	}
	if got, want := testutil.ToFloat64(h.released), float64(60<<20+70<<20); got != want {
		t.Errorf("released bytes = %s, want %s", mib(uint64(got)), mib(uint64(want)))
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
	allocateAndDrop(64)
	runtime.GC()
	h.check()
	if got := testutil.ToFloat64(h.released); got < 32<<20 || readHeap().free > 16<<20 {
		t.Errorf("released %s of the 64 MiB dropped; %s still free", mib(uint64(got)), mib(readHeap().free))
	}
}

// allocateAndDrop touches n MiB that nothing references once it returns,
// whatever the compiler's flags.
//
//go:noinline
func allocateAndDrop(n int) {
	held := make([][]byte, n)
	for i := range held {
		held[i] = make([]byte, 1<<20)
		held[i][0] = 1
	}
	sink = held
	sink = nil
}

var sink [][]byte

func mib(b uint64) string { return fmt.Sprintf("%d MiB", b>>20) }
