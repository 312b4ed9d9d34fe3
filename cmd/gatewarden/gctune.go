package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/gatewarden/gatewarden/config"
)

// gcTuner keeps the heap's growth between collections within the
// configured headroom: a fixed percentage (GOGC) is right for a small
// heap, where the query engine's garbage needs room, but for a large heap
// of long-lived series it holds tens of MB of memory for garbage the
// scrapes hardly make. It lowers the percentage to headroom ÷ live heap,
// never below minGOGC nor above the configured GOGC; GOGC set in the
// environment turns it off.
type gcTuner struct {
	gogc, headroom atomic.Int64
	sample         []metrics.Sample
	current        int
}

const minGOGC = 10

func newGCTuner() *gcTuner {
	return &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, current: -1}
}

// apply is the runtime section's reload hook.
func (t *gcTuner) apply(cfg *config.Config) error {
	t.gogc.Store(int64(cfg.Runtime.GOGC))
	t.headroom.Store(int64(*cfg.Runtime.GCHeadroom))
	t.tune()
	return nil
}

// percent is the GC percentage for a live heap of live bytes.
func percent(gogc, headroom, live int64) int {
	if headroom <= 0 || live <= 0 {
		return int(gogc)
	}
	return int(max(min(minGOGC, gogc), min(gogc, 100*headroom/live)))
}

func (t *gcTuner) tune() {
	if os.Getenv("GOGC") != "" {
		return
	}
	metrics.Read(t.sample)
	var live int64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(t.sample[0].Value.Uint64())
	}
	if p := percent(t.gogc.Load(), t.headroom.Load(), live); p != t.current {
		debug.SetGCPercent(p)
		t.current = p
	}
}

// run re-tunes as the heap grows or shrinks: series come and go slowly,
// so every 10 s is often enough.
func (t *gcTuner) run(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.tune()
		}
	}
}
