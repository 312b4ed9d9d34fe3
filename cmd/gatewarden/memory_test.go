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
// fake clock and heap: nothing under the threshold (8 MiB, or a sixteenth
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
		{10 * time.Second, 7 << 20, 100 << 20, 0},  // under 8 MiB
		{10 * time.Second, 50 << 20, 100 << 20, 1}, // a burst freed: released
		{20 * time.Second, 40 << 20, 100 << 20, 1}, // again, but within the gap
		{50 * time.Second, 20 << 20, 400 << 20, 1}, // the gap is over, but a big heap keeps 25 MiB free
		{10 * time.Second, 30 << 20, 400 << 20, 2}, // over a sixteenth of its goal
	} {
		now = now.Add(step.after)
		heap.free, heap.goal = step.free, step.goal
		h.check()
		if calls != step.want {
			t.Fatalf("%s free of a %s goal at %s: %d releases, want %d", mib(step.free), mib(step.goal), now.Format(time.TimeOnly), calls, step.want)
		}
	}
	if got, want := testutil.ToFloat64(h.released), float64(60<<20+40<<20); got != want {
		t.Errorf("released bytes = %s, want %s", mib(uint64(got)), mib(uint64(want)))
	}
	if got := testutil.ToFloat64(h.releases); got != 2 {
		t.Errorf("releases = %v, want 2", got)
	}
}

// TestHeapReleaseCountsGarbage: objects allocated since the last
// collection and dead by now are returned by a release as free pages are,
// so a burst of garbage calls for one before any collection has freed it.
func TestHeapReleaseCountsGarbage(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	calls := 0
	h.release = func() { calls++ }
	for _, c := range []struct {
		heap heapState
		want int
	}{
		{heapState{free: 2 << 20, objects: 105 << 20, live: 100 << 20, goal: 125 << 20}, 0}, // 7 MiB in all
		{heapState{free: 0, objects: 90 << 20, live: 100 << 20, goal: 125 << 20}, 0},        // shrunk below the last live count
		{heapState{free: 2 << 20, objects: 107 << 20, live: 100 << 20, goal: 125 << 20}, 1}, // 9 MiB: over the 8 MiB and the sixteenth of the goal
	} {
		h.read = func() heapState { return c.heap }
		h.check()
		if calls != c.want {
			t.Fatalf("%+v: %d releases, want %d", c.heap, calls, c.want)
		}
	}
}

// TestHeapReleaseLeavesABusyCollectorAlone: while the runtime collects
// every minute or more often, as under a query load, no release however
// much waits; a minute after its last collection, one.
func TestHeapReleaseLeavesABusyCollectorAlone(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	heap := heapState{free: 64 << 20, goal: 100 << 20, cycles: 1}
	calls := 0
	h.now = func() time.Time { return now }
	h.read = func() heapState { return heap }
	h.release = func() { calls++ }
	for range 30 { // five minutes, a collection every 20 s
		now = now.Add(10 * time.Second)
		if now.Second()%20 == 0 {
			heap.cycles++
		}
		h.check()
	}
	if calls != 0 {
		t.Fatalf("%d releases between collections 20 s apart, want none", calls)
	}
	for range 6 {
		now = now.Add(10 * time.Second)
		h.check()
	}
	if calls != 1 {
		t.Errorf("%d releases a minute after the last collection, want 1", calls)
	}
}

// TestHeapReleaseReturnsMemory releases for real: memory a collection
// freed goes back to the OS at once, not when the scavenger gets to it.
func TestHeapReleaseReturnsMemory(t *testing.T) {
	h := newHeapRelease(prometheus.NewRegistry())
	h.threshold = 8 << 20
	allocateAndDrop(64)
	runtime.GC()
	h.cycles = readHeap().cycles // as if that collection were the release's own
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
