package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/config"
)

// memoryRelease returns the heap's free memory to the operating system
// every runtime.release_interval. gatewarden's heap is mostly long-lived
// series; what it frees comes in large pieces (the head's chunks written
// out every 20 minutes, compactions every 2 hours), which the Go
// scavenger hands back over many minutes while the RSS stays up. A
// release is a full collection: at 100k series it costs about as much CPU
// as one scrape (docs/benchmarks.md), once per interval.
type memoryRelease struct {
	interval atomic.Int64 // nanoseconds; 0: never
	duration prometheus.Summary
	released prometheus.Counter
}

func newMemoryRelease(reg prometheus.Registerer) *memoryRelease {
	m := &memoryRelease{
		duration: prometheus.NewSummary(prometheus.SummaryOpts{
			Name: "gatewarden_memory_release_duration_seconds",
			Help: "Time taken by the periodic release of free heap memory to the OS (a full garbage collection).",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_memory_released_bytes_total",
			Help: "Heap memory returned to the OS by the periodic release.",
		}),
	}
	reg.MustRegister(m.duration, m.released)
	return m
}

// apply sets the GC target from the config unless the operator set GOGC
// in the environment, which wins as it does for Prometheus, and the
// release interval.
func (m *memoryRelease) apply(cfg *config.Config) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GOGC)
	}
	m.interval.Store(int64(*cfg.Runtime.ReleaseInterval))
	return nil
}

// run releases every interval, checked every 10 s, so that a reload's new
// interval applies at once.
func (m *memoryRelease) run(ctx context.Context) error {
	last := time.Now()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if iv := time.Duration(m.interval.Load()); iv > 0 && now.Sub(last) >= iv {
				m.release()
				last = time.Now()
			}
		}
	}
}

func (m *memoryRelease) release() {
	before := releasedBytes()
	start := time.Now()
	debug.FreeOSMemory()
	m.duration.Observe(time.Since(start).Seconds())
	if after := releasedBytes(); after > before {
		m.released.Add(float64(after - before))
	}
}

// releasedBytes is the heap memory the runtime has returned to the OS.
func releasedBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
