package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// heapRelease hands free heap memory back to the operating system once a
// lot of it piles up. gatewarden allocates little between collections, so
// collections are minutes apart, and the Go scavenger, which only returns
// pages that stayed free across a collection, keeps what a burst freed
// for as long: when the head cuts every series' chunk at once and writes
// the old ones out, 50 MB at 100k series stay resident for minutes
// (docs/benchmarks.md). A release is a full collection, so it waits for
// enough to return and runs at most once a minute.
type heapRelease struct {
	threshold uint64        // free, unreleased heap bytes that call for a release, at least
	gap       time.Duration // at least this long between two releases
	read      func() heapState
	release   func()
	now       func() time.Time
	last      time.Time

	releases prometheus.Counter
	released prometheus.Counter
	duration prometheus.Summary
}

func newHeapRelease(reg prometheus.Registerer) *heapRelease {
	h := &heapRelease{
		threshold: 16 << 20, gap: time.Minute,
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

// check releases when enough free memory waits and the last release is
// long enough ago. Enough is 16 MiB or an eighth of the heap's goal,
// whichever is more: a larger heap keeps more free pages between
// collections by design, and each release is a full collection.
func (h *heapRelease) check() {
	before := h.read()
	if before.free < max(h.threshold, before.goal/8) || (!h.last.IsZero() && h.now().Sub(h.last) < h.gap) {
		return
	}
	start := h.now()
	h.release()
	h.last = h.now()
	h.duration.Observe(h.last.Sub(start).Seconds())
	h.releases.Inc()
	// The release's collection frees more than was free before it, and
	// returns that too: the runtime's count of released bytes says all.
	if after := h.read(); after.released > before.released {
		h.released.Add(float64(after.released - before.released))
	}
}

// heapState is what the release decides on, from runtime/metrics.
type heapState struct {
	free     uint64 // free and still held from the OS
	released uint64 // free and returned to the OS
	goal     uint64 // the heap size the next collection aims at
}

func readHeap() heapState {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/goal:bytes"},
	}
	metrics.Read(s)
	return heapState{free: s[0].Value.Uint64(), released: s[1].Value.Uint64(), goal: s[2].Value.Uint64()}
}
