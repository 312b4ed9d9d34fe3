package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// heapRelease hands heap memory nothing uses back to the operating system
// once a lot of it piles up. gatewarden allocates little between
// collections, so collections are minutes apart: the garbage of a burst
// stays resident until one comes, and the Go scavenger, which only returns
// pages that stayed free across a collection, keeps what it freed for as
// long. When the head cuts every series' chunk at once and writes the old
// ones out, 50 MB at 100k series stay resident for minutes
// (docs/benchmarks.md). A release is a full collection, so it waits for
// enough to return and runs at most once a minute, and never while the
// runtime collects on its own every minute or more often (under a query
// load): there its scavenger keeps up, and a release would only make the
// next queries fault their pages back in.
type heapRelease struct {
	threshold uint64        // reclaimable heap bytes that call for a release, at least
	gap       time.Duration // at least this long between two releases
	read      func() heapState
	release   func()
	now       func() time.Time
	last      time.Time // the last release
	cycles    uint64    // collections counted at the last check
	natural   time.Time // when a collection not of ours was last seen

	releases prometheus.Counter
	released prometheus.Counter
	duration prometheus.Summary
}

func newHeapRelease(reg prometheus.Registerer) *heapRelease {
	h := &heapRelease{
		threshold: 8 << 20, gap: time.Minute,
		read: readHeap, release: debug.FreeOSMemory, now: time.Now,
		releases: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_memory_releases_total",
			Help: "Releases of free heap memory to the operating system (each a full garbage collection).",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_memory_released_bytes_total",
			Help: "Free heap memory the releases returned to the operating system.",
		}),
		duration: prometheus.NewSummary(prometheus.SummaryOpts{
			Name: "gatewarden_memory_release_duration_seconds",
			Help: "Time taken by a release of free heap memory.",
		}),
	}
	reg.MustRegister(h.releases, h.released, h.duration)
	return h
}

// run checks every 10 s until ctx ends.
func (h *heapRelease) run(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			h.check()
		}
	}
}

// check releases when enough reclaimable memory waits and the last release
// is long enough ago. Enough is 8 MiB or a sixteenth of the heap's goal,
// whichever is more: a larger heap keeps more garbage and free pages
// between collections by design, and each release is a full collection
// (at 100k series, six in 30 minutes while only scraping).
func (h *heapRelease) check() {
	before, start := h.read(), h.now()
	if before.cycles != h.cycles {
		h.cycles, h.natural = before.cycles, start
	}
	if start.Sub(h.natural) < h.gap || before.reclaimable() < max(h.threshold, before.goal/16) || (!h.last.IsZero() && start.Sub(h.last) < h.gap) {
		return
	}
	h.release()
	h.last = h.now()
	h.duration.Observe(h.last.Sub(start).Seconds())
	h.releases.Inc()
	after := h.read()
	h.cycles = after.cycles // the release's own collection
	// It frees more than was free before it, and returns that too: the
	// runtime's count of released bytes says all.
	if after.released > before.released {
		h.released.Add(float64(after.released - before.released))
	}
}

// heapState is what the release decides on, from runtime/metrics.
type heapState struct {
	free     uint64 // free and still held from the OS
	released uint64 // free and returned to the OS
	goal     uint64 // the heap size the next collection aims at
	objects  uint64 // occupied by objects, live or not yet found dead
	live     uint64 // what the last collection found live
	cycles   uint64 // collections so far
}

// reclaimable is what a collection followed by a release would return:
// the free pages, and the objects allocated since the last collection
// that are garbage by now. Those still live count too (nothing tells them
// apart without a collection), so a growing heap is released at most once
// a gap, as any other.
func (s heapState) reclaimable() uint64 {
	garbage := uint64(0)
	if s.objects > s.live {
		garbage = s.objects - s.live
	}
	return s.free + garbage
}

func readHeap() heapState {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return heapState{
		free: s[0].Value.Uint64(), released: s[1].Value.Uint64(), goal: s[2].Value.Uint64(),
		objects: s[3].Value.Uint64(), live: s[4].Value.Uint64(), cycles: s[5].Value.Uint64(),
	}
}
