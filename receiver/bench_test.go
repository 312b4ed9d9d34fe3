package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/access"
)

// benchIngest posts 10,000 distinct alerts in batches of size from 8
// concurrent clients over HTTP into the whole ingest path: decode, the
// recorder writing to SQLite, the dispatcher grouping. It reports alerts/s
// and the p99 request latency, as Alertmanager's figures in the issue were
// measured.
// alertBatch is an API v2 body of size alerts, numbered from first.
func alertBatch(first, size int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for n := first; n < first+size; n++ {
		if n > first {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"labels":{"alertname":"Load%d","master":"m%d","severity":"warning"},"annotations":{"summary":"load test alert %d"},"generatorURL":"http://prom/graph"}`, n%20, n, n)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

func benchIngest(b *testing.B, size int) {
	s := openStore(b)
	rec := NewRecorder(s, 1_000_000, nil, nil)
	episodes := NewEpisodes()
	d := NewDispatcher(DispatcherOptions{Ledger: s, Episodes: episodes})
	d.plan = &Plan{Router: oneRoute{Timing{GroupWait: time.Hour, GroupInterval: time.Hour, RepeatInterval: time.Hour}},
		Targets: func(string) []Target { return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = rec.Run(ctx) })
	wg.Go(func() { _ = d.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	in := NewIngest(IngestOptions{Inbox: Inbox{Episodes: episodes, Recorder: rec, Route: d.Add}})
	mux := http.NewServeMux()
	in.Register(mux, access.New())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	bodies := make([][]byte, 10_000/size)
	for i := range bodies {
		bodies[i] = alertBatch(i*size, size)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var next atomic.Int64
	lat := make([][]time.Duration, 8)
	b.ResetTimer()
	start := time.Now()
	var cw sync.WaitGroup
	for c := range 8 {
		cw.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t := time.Now()
				resp, err := client.Post(srv.URL+"/api/v2/alerts", "application/json", bytes.NewReader(bodies[i%int64(len(bodies))]))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %s", resp.Status)
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		})
	}
	cw.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkIngestBatch100(b *testing.B) { benchIngest(b, 100) }
func BenchmarkIngestSingle(b *testing.B)   { benchIngest(b, 1) }

// BenchmarkFlushAfterGroupWait measures from a group's wait ending to its
// notification being in the outbox: the dispatcher's share of "a
// notification leaves ≤ 50 ms after its group wait ends".
func BenchmarkFlushAfterGroupWait(b *testing.B) {
	s := openStore(b)
	ch, err := s.CreateChannel(context.Background(), storeChannel("bench"))
	if err != nil {
		b.Fatal(err)
	}
	d := NewDispatcher(DispatcherOptions{Ledger: s})
	d.plan = &Plan{Router: oneRoute{Timing{GroupWait: time.Millisecond, GroupInterval: time.Hour, RepeatInterval: time.Hour}},
		Targets: func(string) []Target { return []Target{{ChannelID: ch.ID, Name: "bench"}} }}
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		a := Alert{Labels: map[string]string{"alertname": fmt.Sprintf("A%d", i), "severity": "warning"}, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}
		d.take([]Alert{a})
		due, _ := d.queue.peek()
		for time.Now().Before(due) {
		}
		t := time.Now()
		d.flushDue(context.Background())
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
