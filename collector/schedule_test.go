package collector

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/config"
)

func TestScheduleKeepsTimestampsOnTheGrid(t *testing.T) {
	ms := time.Millisecond
	s := newSchedule(10*time.Second, 2*ms)
	for i, c := range []struct {
		late time.Duration // after the i-th slot of the grid started at t0
		slot int           // the slot it is stamped with; -1: as it came
	}{
		{0, 0},
		{1 * ms, 1},
		{2 * ms, 2},    // the tolerance is inclusive, as Prometheus's
		{3 * ms, -1},   // too late: stamped as it came
		{-1 * ms, -1},  // early: the grid only moves forward, as Prometheus's
		{500 * ms, -1}, // a slow start does not move the grid
		{1 * ms, 6},
	} {
		now := t0.Add(time.Duration(i)*10*time.Second + c.late)
		want := now
		if c.slot >= 0 {
			want = t0.Add(time.Duration(c.slot) * 10 * time.Second)
		}
		if got := s.at(now); !got.Equal(want) {
			t.Errorf("scrape %d, %s late: stamped %s, want %s", i, c.late, got.Format(time.StampMilli), want.Format(time.StampMilli))
		}
	}
	// Three ticks skipped (a stalled process): the grid catches up.
	if got, want := s.at(t0.Add(100*time.Second+ms)), t0.Add(100*time.Second); !got.Equal(want) {
		t.Errorf("after skipped ticks: stamped %s, want %s", got.Format(time.StampMilli), want.Format(time.StampMilli))
	}
}

func TestScheduleToleranceBounds(t *testing.T) {
	ms := time.Millisecond
	// At most 1 % of the interval: 1 ms of a 100 ms interval.
	s := newSchedule(100*ms, 2*ms)
	s.at(t0)
	if got := s.at(t0.Add(101500 * time.Microsecond)); !got.Equal(t0.Add(101500 * time.Microsecond)) {
		t.Errorf("1.5 ms late on a 100 ms interval was aligned to %s", got.Format(time.StampMicro))
	}
	// Alignment off: every timestamp as it came, the monotonic reading dropped.
	off := newSchedule(10*time.Second, 0)
	now := time.Now()
	got := off.at(now.Add(7 * ms))
	if !got.Equal(now.Add(7*ms)) || got != got.Round(0) {
		t.Errorf("alignment off: got %v for %v", got, now.Add(7*ms))
	}
}

func TestManagerGivesEveryLoopItsSchedule(t *testing.T) {
	db := newTestDB(t)
	m := NewManager(Options{Appendable: db, TimestampTolerance: 2 * time.Millisecond})
	yml := "scrape_configs:\n" + job("fast", staticTarget(t, "a 1\n")) +
		"  - job_name: slow\n    scrape_interval: 10s\n    static_configs: [{targets: [" + strconv.Quote(staticTarget(t, "b 1\n")) + "]}]\n"
	cfg, err := config.Load([]byte(yml), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.pools {
		p.start(context.Background()) // starts its loops before returning
		defer p.stop(nil, true)
	}
	// 1 % of 100 ms caps the fast job's tolerance; the slow job gets it all.
	for job, want := range map[string]time.Duration{"fast": time.Millisecond, "slow": 2 * time.Millisecond} {
		p := m.pools[job]
		p.mtx.Lock()
		for _, l := range p.loops {
			if l.schedule.tolerance != want {
				t.Errorf("job %s: tolerance %s, want %s", job, l.schedule.tolerance, want)
			}
		}
		if len(p.loops) != 1 {
			t.Errorf("job %s: %d loops", job, len(p.loops))
		}
		p.mtx.Unlock()
	}
}

// TestAlignedTimestampsShrinkTheChunks scrapes a counter with a timer a
// millisecond off now and then, stamped as it came and on the grid, and
// compares the head chunks the two leave.
func TestAlignedTimestampsShrinkTheChunks(t *testing.T) {
	chunkBytes := func(tolerance time.Duration) int {
		db := newTestDB(t)
		tl := newTestLoop(t, db, "    scrape_interval: 10s\n")
		tl.schedule = newSchedule(10*time.Second, tolerance)
		for i := range 120 {
			tl.exp.set(fmt.Sprintf("requests_total %d\n", 7*i))
			jitter := time.Duration(i%3-1) * time.Millisecond // -1, 0, +1 ms
			tl.scrape(context.Background(), at(i).Add(jitter))
		}
		q, err := db.ChunkQuerier(math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "requests_total"))
		n := 0
		for set.Next() {
			it := set.At().Iterator(nil)
			for it.Next() {
				n += len(it.At().Chunk.Bytes())
			}
		}
		return n
	}
	jittery, aligned := chunkBytes(0), chunkBytes(2*time.Millisecond)
	t.Logf("120 samples: %d bytes stamped as they came, %d on the grid", jittery, aligned)
	if aligned*3 > jittery*2 {
		t.Errorf("aligned chunks take %d bytes, more than two thirds of the jittery ones' %d", aligned, jittery)
	}
}
