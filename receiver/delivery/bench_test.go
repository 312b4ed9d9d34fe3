package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver/delivery"
)

// BenchmarkDeliver sends 1,000 outbox items per iteration through the real
// webhook integration to a local sink on one SQLite store, and reports
// items/s: claims, channel reads, HTTP round trips, marks and history.
func BenchmarkDeliver(b *testing.B) {
	const perRound = 1000
	st, sk := storetest.SQLite(b), newSink(b)
	ch := channel(b, st, "bench", sk.URL+"/hook")
	var elapsed time.Duration
	for round := 0; b.Loop(); round++ {
		b.StopTimer()
		for i := range perRound {
			enqueue(b, st, ch, fmt.Sprintf("r%d-%d", round, i))
		}
		want := (round + 1) * perRound
		b.StartTimer()
		begin := time.Now()
		w := delivery.New(delivery.Options{Store: st, Builder: builder, Concurrency: 8,
			RatePerSecond: delivery.NoRateLimit, PollInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		for {
			if _, n := sk.deliveredCount(); n >= want {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		elapsed += time.Since(begin)
		cancel()
		<-done
	}
	b.ReportMetric(float64(b.N*perRound)/elapsed.Seconds(), "items/s")
}
