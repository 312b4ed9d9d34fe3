package throttle

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
)

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkDecide measures what the issue bounds at 100 ms (p99): from the
// Observe of the evaluation that sees the third anomalous sample to the
// PATCH arriving at a healthy local gateway (gatewaysim over HTTP). The
// path includes the decision, the Sampler read, the decision's row in
// SQLite and the HTTP call. Each op throttles an instance, then releases
// it and resolves its alert so the next op starts clean.
func BenchmarkDecide(b *testing.B) {
	h := newHarness(b, setup{snapshot: true})
	h.front.arrived = make(chan string, 4)
	ctx := context.Background()
	insts := sortedInstances(h.sampler.cpus())
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		inst := insts[i%len(insts)]
		ev := Event{Rule: config.DefaultThrottleRule, Instance: inst, Firing: true, Value: 0.95}
		t0 := time.Now()
		h.ctl.Observe(ctx, []Event{ev})
		<-h.front.arrived
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		h.drain()
		act, ok := h.active(inst)
		if !ok || act.State != StateThrottled {
			b.Fatalf("op %d: %+v", i, act)
		}
		if err := h.ctl.Release(ctx, act.ID, "bench"); err != nil {
			b.Fatal(err)
		}
		<-h.front.arrived
		h.drain()
		ev.Firing = false
		h.ctl.Observe(ctx, []Event{ev})
		h.drain()
		b.StartTimer()
	}
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkSimultaneous1000: 1,000 anomalies in one evaluation, no cap,
// so 1,000 decisions stored, applied, verified and audited through the
// default 8 workers. Reported: the Observe call (what the evaluator
// waits), Observe to each PATCH's arrival (p50, p99, last), and the time
// until everything settled.
func BenchmarkSimultaneous1000(b *testing.B) {
	var observe, settle, p50, p99, last time.Duration
	var inflight int64
	runs := 0
	for b.Loop() {
		runs++
		b.StopTimer()
		h := newHarness(b, setup{sim: thousand, snapshot: true})
		if _, err := h.sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike"}); err != nil {
			b.Fatal(err)
		}
		h.sim.Step(h.clk.Advance(simTick))
		h.sampler.scrape(b)
		var evs []Event
		for inst, v := range h.sampler.cpus() {
			evs = append(evs, Event{Rule: config.DefaultThrottleRule, Instance: inst, Firing: true, Value: v})
		}
		b.StartTimer()
		t0 := time.Now()
		h.ctl.Observe(context.Background(), evs)
		observe += time.Since(t0)
		h.drain()
		settle += time.Since(t0)
		b.StopTimer()
		h.front.mu.Lock()
		var lat []time.Duration
		for _, at := range h.front.at {
			lat = append(lat, at.Sub(t0))
		}
		h.front.mu.Unlock()
		if len(lat) != 1000 || len(h.sim.Throttles()) != 1000 {
			b.Fatalf("%d PATCHes, %d throttles", len(lat), len(h.sim.Throttles()))
		}
		p50, p99, last = p50+percentile(lat, 0.5), p99+percentile(lat, 0.99), last+percentile(lat, 1)
		inflight = max(inflight, h.front.maxInflight.Load())
		h.ctl.Close()
		b.StartTimer()
	}
	n := time.Duration(runs)
	b.ReportMetric(float64((observe/n).Microseconds())/1000, "observe-ms")
	b.ReportMetric(float64((p50/n).Microseconds())/1000, "patch-p50-ms")
	b.ReportMetric(float64((p99/n).Microseconds())/1000, "patch-p99-ms")
	b.ReportMetric(float64((last/n).Microseconds())/1000, "patch-last-ms")
	b.ReportMetric(float64((settle/n).Microseconds())/1000, "settled-ms")
	b.ReportMetric(float64(inflight), "max-inflight")
}
