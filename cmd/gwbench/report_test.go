package main

import (
	"bytes"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSizes(t *testing.T) {
	for in, want := range map[string][]int{
		"10k,100k,300k":  {10_000, 100_000, 300_000},
		"100, 1000,5000": {100, 1000, 5000},
		"1.5M":           {1_500_000},
		"1,":             {1},
	} {
		got, err := parseSizes(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5", "ten", "10x", "1e9"} {
		if got, err := parseSizes(in); err == nil {
			t.Errorf("parseSizes(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.000412, "s", "412 µs"},
		{0.0561, "s", "56.1 ms"},
		{1.25, "s", "1.25 s"},
		{1889, "B", "1,889 B"},
		{179.3 * 1024 * 1024, "B", "179.3 MiB"},
		{65432, "alerts/s", "65.4k alerts/s"},
		{7942, "req/s", "7,942 req/s"},
		{545.5, "req/s", "545.5 req/s"},
		{-3.25, "%", "-3.2 %"},
	} {
		if got := formatValue(c.v, c.unit); got != c.want {
			t.Errorf("formatValue(%g, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
	if got := formatSize(300_000); got != "300k" {
		t.Errorf("formatSize(300000) = %q", got)
	}
}

func sampleReport() *Report {
	r := &Report{Started: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Scenarios: []string{"ingest", "receive"}}
	r.add(Figure{Key: "ingest.rss_per_series", Size: 100_000, Value: 1900, Unit: "B", Context: "scrape 5s"})
	r.add(Figure{Key: "ingest.rss_per_series", Size: 10_000, Value: 5500, Unit: "B"})
	r.add(Figure{Key: "receive.v2.alerts_per_s", Size: 100, Value: 50_000, Unit: "alerts/s"})
	r.addDist(newDist("receive.v2.paced", 100, []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}))
	return r
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"figure                        value           target            ok   context",
		"ingest.rss_per_series[100k]   1,900 B         ≤ 2,048 B         yes  scrape 5s",
		"ingest.rss_per_series[10k]    5,500 B         —                      ",
		"receive.v2.alerts_per_s[100]  50.0k alerts/s  ≥ 40.0k alerts/s  yes  ",
		"receive.v2.paced.p50[100]     20 ms           —                      ",
		"receive.v2.paced.p99[100]     30 ms           < 20 ms           NO   ",
	}
	if got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := missed(sampleReport()); n != 1 {
		t.Errorf("missed = %d, want 1 (the p99)", n)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	want := sampleReport()
	if err := writeJSON(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := readReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v\nwant %+v", got, want)
	}
}

func TestCompare(t *testing.T) {
	old, cur := sampleReport(), sampleReport()
	cur.Figures[0].Value = 2200                           // memory 16 % worse: regression
	cur.Figures[1].Value = 5000                           // memory better
	cur.Figures[2].Value = 46_000                         // rate 8 % lower: within 10 %
	cur.Figures[4].Value = 0.036                          // p99 20 % slower: regression
	cur.Figures = append(cur.Figures[:3], cur.Figures[4]) // p50 only in the old run
	cur.add(Figure{Key: "soak.rss_growth", Value: 2, Unit: "%"})

	deltas := compareReports(old, cur, 0.1)
	var ids []string
	for _, d := range deltas {
		ids = append(ids, d.ID)
	}
	wantIDs := []string{"ingest.rss_per_series[100k]", "ingest.rss_per_series[10k]", "receive.v2.alerts_per_s[100]",
		"receive.v2.paced.p99[100]", "soak.rss_growth", "receive.v2.paced.p50[100]"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("ids %v, want %v", ids, wantIDs)
	}
	var b bytes.Buffer
	n, err := writeDeltas(&b, deltas, 0.1)
	if err != nil || n != 2 {
		t.Fatalf("%d regressions (%v), want 2:\n%s", n, err, b.String())
	}
	for _, want := range []string{
		"ingest.rss_per_series[100k]   1,900 B         2,200 B         +15.8 %  REGRESSION",
		"receive.v2.alerts_per_s[100]  50.0k alerts/s  46.0k alerts/s  -8.0 %",
		"receive.v2.paced.p99[100]     30 ms           36 ms           +20.0 %  REGRESSION",
		"soak.rss_growth               —               2.0 %           new",
		"receive.v2.paced.p50[100]     20 ms           —               gone",
		"2 regression(s) beyond 10 %",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, b.String())
		}
	}
	if !math.IsNaN(deltas[4].Change) {
		t.Errorf("a figure only in the new run has change %g", deltas[4].Change)
	}
}

func TestCompareFilesExitCode(t *testing.T) {
	dir := t.TempDir()
	old, cur := sampleReport(), sampleReport()
	cur.Figures[2].Value = 20_000
	for name, r := range map[string]*Report{"old.json": old, "new.json": cur} {
		if err := writeJSON(filepath.Join(dir, name), r); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if code, err := runMain([]string{"compare", filepath.Join(dir, "old.json"), filepath.Join(dir, "old.json")}, &b, &b); code != 0 || err != nil {
		t.Errorf("same file twice: exit %d, %v", code, err)
	}
	if code, err := runMain([]string{"compare", filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")}, &b, &b); code != 1 || err != nil {
		t.Errorf("a halved rate: exit %d, %v; want 1", code, err)
	}
	if code, err := runMain([]string{"compare", filepath.Join(dir, "old.json"), filepath.Join(dir, "missing.json")}, &b, &b); code != 2 || err == nil {
		t.Errorf("a missing file: exit %d, %v; want 2 and an error", code, err)
	}
}

func TestQuantiles(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	d := newDist("x", 0, xs)
	if d.N != 100 || d.P50 != 0.05 || d.P90 != 0.09 || d.P99 != 0.099 || d.Max != 0.1 {
		t.Errorf("dist %+v", d)
	}
	if d := newDist("x", 0, nil); d.N != 0 || d.P99 != 0 {
		t.Errorf("empty dist %+v", d)
	}
}

func TestGrowth(t *testing.T) {
	flat := []float64{50, 90, 100, 100, 101, 99, 100, 102}
	if g := growth(flat); math.Abs(g-2) > 1e-9 {
		t.Errorf("growth(flat) = %g, want 2 (100 → 102, the warm-up quarter ignored)", g)
	}
	if g := growth([]float64{1, 2, 3}); g != 0 {
		t.Errorf("growth of too few samples = %g", g)
	}
}

func TestSuiteParse(t *testing.T) {
	s := suite{scenarios: "ingest,detect", ingestSizes: "10k", evalRules: "100", evalSeries: "100k", soakSeries: "10k",
		receiveBatches: "1,100", receiveAPIs: "v2", evaluate: evaluateOpts{cycles: 1}, detect: detectOpts{reps: 1},
		receive: receiveOpts{clients: 8, alerts: 10}, floodAlerts: "1M,200k", floodSizes: "256,8k", flood: floodOpts{batch: 500, clients: 4},
		rulesPromSeries: "100k", ingestPromSeries: "100k", fleetSeries: "10k"}
	if err := s.parse(); err != nil || s.evaluate.series != 100_000 || !reflect.DeepEqual(s.receive.batches, []int{1, 100}) ||
		!reflect.DeepEqual(s.flood.alerts, []int{1_000_000, 200_000}) {
		t.Fatalf("parse: %v, %+v", err, s)
	}
	s.scenarios = "ingest,bogus"
	if err := s.parse(); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown scenario: %v", err)
	}
	s.scenarios, s.floodSizes = "ingest", "256"
	if err := s.parse(); err == nil || !strings.Contains(err.Error(), "--flood.alerts has 2 counts for 1") {
		t.Errorf("flood counts and sizes differ: %v", err)
	}
	s.floodSizes, s.evalSeries = "256,8k", "10k,100k"
	if err := s.parse(); err == nil || !strings.Contains(err.Error(), "--evaluate.series") {
		t.Errorf("two sizes for one: %v", err)
	}
}
