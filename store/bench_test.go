package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const benchBatch = 500

func benchAlerts(prefix string, n int) []Alert {
	sev := []string{"critical", "warning", "info"}
	typ := []string{"budget", "latency", "error_rate", "quota", "nodata"}
	out := make([]Alert, n)
	for i := range out {
		out[i] = Alert{Fingerprint: fmt.Sprintf("%s-%d", prefix, i), Severity: sev[i%3], Type: typ[i%5],
			Title: "alert title", Message: "something crossed a threshold",
			Labels: map[string]string{"alertname": typ[i%5], "master": fmt.Sprint("m", i%50)}}
	}
	return out
}

// BenchmarkUpsertAlertsBatch measures inserts of new alerts in batches of
// benchBatch (the receiver's write pattern); b.N counts alerts.
func BenchmarkUpsertAlertsBatch(b *testing.B) {
	s := openStore(b, Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	as := benchAlerts("u", b.N)
	b.ResetTimer()
	for i := 0; i < len(as); i += benchBatch {
		if err := s.UpsertAlerts(ctx, as[i:min(i+benchBatch, len(as))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}

// bigDir is removed by TestMain.
var bigDir string

// bigStore is one SQLite store with 100k alerts (70% active, 10% each
// acknowledged, resolved, dismissed) shared by the read benchmarks.
var bigStore = sync.OnceValues(func() (*Store, error) {
	dir, err := os.MkdirTemp("", "gatewarden-bench-")
	bigDir = dir
	if err != nil {
		return nil, err
	}
	s, err := Open(ctx, Options{Path: filepath.Join(dir, "big.db")})
	if err != nil {
		return nil, err
	}
	const n = 100_000
	as := benchAlerts("big", n)
	for i := 0; i < n; i += 1000 {
		if err := s.UpsertAlerts(ctx, as[i:i+1000]); err != nil {
			return nil, err
		}
	}
	// One statement per status keeps seeding fast; ids are dense from 1.
	for _, q := range []string{
		"UPDATE alerts SET status = 'acknowledged', acked_at = created_at, acked_by = 'bench' WHERE id % 10 = 1",
		"UPDATE alerts SET status = 'resolved', resolved_at = created_at WHERE id % 10 = 2",
		"UPDATE alerts SET status = 'dismissed' WHERE id % 10 = 3",
		"ANALYZE",
	} {
		if _, err := s.w.Exec(q); err != nil {
			return nil, err
		}
	}
	return s, nil
})

func big(b *testing.B) *Store {
	b.Helper()
	start := time.Now()
	s, err := bigStore()
	if err != nil {
		b.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		b.Logf("seeded 100k alerts in %v", d)
	}
	b.ResetTimer()
	return s
}

// BenchmarkListAlertsFiltered is the admin list's common query: one page of
// active critical alerts, newest first, with the total.
func BenchmarkListAlertsFiltered(b *testing.B) {
	s := big(b)
	filters := []AlertFilter{
		{Status: StatusActive, Severity: SeverityCritical, Limit: 50},
		{Type: "latency", Limit: 50, Offset: 100},
		{Limit: 50},
	}
	for _, f := range filters {
		b.Run(fmt.Sprintf("status=%s,severity=%s,type=%s,offset=%d", f.Status, f.Severity, f.Type, f.Offset), func(b *testing.B) {
			for b.Loop() {
				items, total, err := s.ListAlerts(ctx, f)
				if err != nil || len(items) != 50 || total == 0 {
					b.Fatalf("%d items, total %d, %v", len(items), total, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkAlertStats is the dashboard counter query over 100k alerts.
func BenchmarkAlertStats(b *testing.B) {
	s := big(b)
	for b.Loop() {
		if st, err := s.AlertStats(ctx); err != nil || st.Total != 90_000 {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
