package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// seed stores n alerts as the store benchmarks do: 70 % active, 10 % each
// acknowledged, resolved and dismissed, spread over types and severities.
func seed(b *testing.B, s *store.Store, n int) {
	ctx := context.Background()
	types := []string{"budget", "error_rate", "latency", "quota", "cpu_anomaly", "traffic_spike", "nodata"}
	sevs := []string{"critical", "warning", "info"}
	batch := make([]store.Alert, 0, 1000)
	for i := range n {
		st := store.StatusActive
		if i%10 == 7 {
			st = store.StatusResolved
		}
		batch = append(batch, store.Alert{Fingerprint: fmt.Sprintf("fp%07d", i), Type: types[i%len(types)], Severity: sevs[i%3],
			Status: st, Title: fmt.Sprintf("alert %d", i), Labels: map[string]string{"master": fmt.Sprintf("m%d", i%100)},
			CreatedAt: time.Unix(1_800_000_000+int64(i), 0)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.UpsertAlerts(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for id := int64(1); id <= int64(n); id += 10 {
		if _, err := s.AckAlert(ctx, id+8, "bench"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.DismissAlert(ctx, id+9); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdminAPI100k measures whole requests over HTTP (auth, store,
// JSON) against 100,000 stored alerts in SQLite, and reports p50 and p99.
func BenchmarkAdminAPI100k(b *testing.B) {
	s, err := store.Open(context.Background(), store.Options{Path: filepath.Join(b.TempDir(), "gw.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seed(b, s, 100_000)
	srv := newServer(b, s, "")
	for _, q := range []struct{ name, path string }{
		{"list-active-critical", "/admin/alerts?status=active&severity=critical"},
		{"list-type-offset", "/admin/alerts?type=latency&offset=100"},
		{"list-default", "/admin/alerts"},
		{"stats", "/admin/alerts/stats"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequest("GET", srv.URL+q.path, nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %v %v", q.path, err, resp)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
