package collector

import (
	"compress/gzip"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/gatewarden/gatewarden/config"
)

// exposition is a target whose body, status and content type a test sets
// between scrapes.
type exposition struct {
	mtx         sync.Mutex
	body        string
	status      int
	contentType string
	gzip        bool
	hang        chan struct{}
}

func (e *exposition) set(body string) {
	e.mtx.Lock()
	defer e.mtx.Unlock()
	e.body, e.status = body, http.StatusOK
}

func (e *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mtx.Lock()
	body, status, ct, gz, hang := e.body, e.status, e.contentType, e.gzip, e.hang
	e.mtx.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	if ct == "" {
		ct = "text/plain; version=0.0.4"
	}
	w.Header().Set("Content-Type", ct)
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(body))
		_ = zw.Close()
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func newTestDB(t testing.TB) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func scrapeConfig(t testing.TB, yml string) *config.ScrapeConfig {
	t.Helper()
	cfg, err := config.Load([]byte("scrape_configs:\n  - job_name: gw\n"+yml), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.ScrapeConfigs[0]
}

type testLoop struct {
	*loop
	exp    *exposition
	events []Event
	reg    *prometheus.Registry
}

func newTestLoop(t testing.TB, db *tsdb.DB, yml string) *testLoop {
	t.Helper()
	exp := &exposition{status: http.StatusOK}
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	sc := scrapeConfig(t, yml)
	tg, err := newTarget(sc, strings.TrimPrefix(srv.URL, "http://"), map[string]string{"env": "test"})
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLoop{exp: exp, reg: prometheus.NewRegistry()}
	tl.loop = newLoop("gw", tg, sc, srv.Client(), db, newMetrics(tl.reg), func(e Event) { tl.events = append(tl.events, e) }, discardLogger())
	return tl
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }

// samples returns every sample of the series matching sel, keyed by its
// labels' string, as the TSDB holds them.
func samples(t testing.TB, db *tsdb.DB, name string) map[string][]float64 {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name))
	out := map[string][]float64{}
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			_, v := it.At()
			out[s.Labels().String()] = append(out[s.Labels().String()], v)
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// only returns the values of the single series named name.
func only(t testing.TB, db *tsdb.DB, name string) []float64 {
	t.Helper()
	all := samples(t, db, name)
	if len(all) != 1 {
		t.Fatalf("%s: want one series, got %v", name, all)
	}
	for _, v := range all {
		return v
	}
	return nil
}

func isStale(v float64) bool { return value.IsStaleNaN(v) }

func TestScrapeAppendsSamplesAndReport(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	l.exp.set("# TYPE gateway_requests_total counter\ngateway_requests_total{master=\"m1\",code=\"200\"} 5\ngateway_requests_total{master=\"m2\",code=\"200\"} 7\n# TYPE g gauge\ng 1.5\n")
	l.scrape(context.Background(), at(0))
	l.exp.set("gateway_requests_total{master=\"m1\",code=\"200\"} 6\ngateway_requests_total{master=\"m2\",code=\"200\"} 9\ng 2\n")
	l.scrape(context.Background(), at(1))

	got := samples(t, db, "gateway_requests_total")
	want := `{__name__="gateway_requests_total", code="200", env="test", instance="` + l.t.labels.Get("instance") + `", job="gw", master="m1"}`
	if v := got[want]; len(v) != 2 || v[0] != 5 || v[1] != 6 {
		t.Fatalf("m1 series: %v (all: %v)", v, got)
	}
	for name, want := range map[string][]float64{"up": {1, 1}, "scrape_samples_scraped": {3, 3}, "scrape_samples_post_metric_relabeling": {3, 3}, "scrape_series_added": {3, 0}} {
		if got := only(t, db, name); !equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if len(l.events) != 2 || l.events[1].Err != nil || !equalStrings(l.events[1].Metrics, []string{"gateway_requests_total", "g"}) || !l.events[1].Time.Equal(at(1)) {
		t.Errorf("events: %+v", l.events)
	}
	if st := l.snapshot(); st.Health != HealthGood || st.LastError != "" || !st.LastScrape.Equal(at(1)) {
		t.Errorf("status: %+v", st)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestStalenessWhenSeriesDisappears(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	l.exp.set("a 1\nb 1\n")
	l.scrape(context.Background(), at(0))
	l.exp.set("a 2\n")
	l.scrape(context.Background(), at(1))
	l.exp.set("a 3\nb 5\n")
	l.scrape(context.Background(), at(2))
	b := only(t, db, "b")
	if len(b) != 3 || b[0] != 1 || !isStale(b[1]) || b[2] != 5 {
		t.Fatalf("b = %v, want 1, stale, 5", b)
	}
	if len(l.cache) != 2 {
		t.Errorf("cache holds %d entries, want 2", len(l.cache))
	}
}

func TestFailedScrapeMarksEverythingStale(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	l.exp.set("a 1\n")
	l.scrape(context.Background(), at(0))
	l.exp.mtx.Lock()
	l.exp.status = http.StatusServiceUnavailable
	l.exp.mtx.Unlock()
	l.scrape(context.Background(), at(1))
	if a := only(t, db, "a"); len(a) != 2 || !isStale(a[1]) {
		t.Fatalf("a = %v, want 1 then stale", a)
	}
	if up := only(t, db, "up"); !equal(up, []float64{1, 0}) {
		t.Errorf("up = %v", up)
	}
	l.expectFailure(t, reasonHTTP, "503")
}

// expectFailure checks that the last scrape failed with msg and was counted
// once under reason.
func (l *testLoop) expectFailure(t *testing.T, reason, msg string) {
	t.Helper()
	if st := l.snapshot(); st.Health != HealthBad || !strings.Contains(st.LastError, msg) {
		t.Fatalf("status: %+v, want a failure with %q", st, msg)
	}
	if n := testutil.ToFloat64(l.m.failures.WithLabelValues("gw", reason)); n != 1 {
		t.Errorf("failures{reason=%s} = %v, want 1", reason, n)
	}
}

func TestEndOfRunStaleness(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	l.exp.set("a 1\n")
	l.scrape(context.Background(), at(0))
	l.now = func() time.Time { return at(1) }
	l.staleOnStop.Store(true)
	l.end()
	if a := only(t, db, "a"); len(a) != 2 || !isStale(a[1]) {
		t.Fatalf("a = %v, want 1 then stale", a)
	}
	if up := only(t, db, "up"); len(up) != 2 || !isStale(up[1]) {
		t.Fatalf("up = %v, want 1 then stale", up)
	}
}

func TestLimitsFailTheScrape(t *testing.T) {
	for _, tc := range []struct {
		name, yml, body, reason, msg string
	}{
		{"sample_limit", "    sample_limit: 2\n", "a 1\nb 1\nc 1\n", reasonSampleLimit, "sample_limit exceeded"},
		{"label_limit", "    label_limit: 4\n", "a{x=\"1\",y=\"2\"} 1\n", reasonLabelLimit, "label_limit exceeded"},
		{"body_size_limit", "    body_size_limit: 1KB\n", strings.Repeat("a 1\n", 300), reasonBodySize, "body size limit exceeded"},
		{"malformed line", "", "a 1\nb{ 1\n", reasonParse, "expected label name"},
		{"invalid label name", "", "a{1x=\"1\"} 1\n", reasonParse, "expected label name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			l := newTestLoop(t, db, tc.yml)
			l.exp.set(tc.body)
			l.scrape(context.Background(), at(0))
			l.expectFailure(t, tc.reason, tc.msg)
			if up := only(t, db, "up"); !equal(up, []float64{0}) {
				t.Errorf("up = %v", up)
			}
			if got := samples(t, db, "a"); len(got) != 0 {
				t.Errorf("a failed scrape stored samples: %v", got)
			}
		})
	}
}

func TestHangingTargetIsCutAtTimeout(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "    scrape_interval: 1s\n    scrape_timeout: 100ms\n")
	l.exp.hang = make(chan struct{})
	defer close(l.exp.hang)
	l.scrape(context.Background(), at(0))
	l.expectFailure(t, reasonTimeout, "timed out")
}

func TestPrometheusSampleHandling(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	ts := func(i int) string { return " " + strconv.FormatInt(timestamp.FromTime(at(i)), 10) }
	// Duplicates: the first wins. NaN and ±Inf are ordinary values.
	l.exp.set("d 1\nd 2\nn NaN\np +Inf\nm -Inf\no 1" + ts(5) + "\n")
	l.scrape(context.Background(), at(5))
	// An explicit timestamp older than the stored one is out of order.
	l.exp.set("d 3\nn 1\np 1\nm 1\no 2" + ts(4) + "\n")
	l.scrape(context.Background(), at(6))

	if d := only(t, db, "d"); !equal(d, []float64{1, 3}) {
		t.Errorf("d = %v, want the first of the duplicates then 3", d)
	}
	if n, p, m := only(t, db, "n"), only(t, db, "p"), only(t, db, "m"); !math.IsNaN(n[0]) || isStale(n[0]) || !math.IsInf(p[0], 1) || !math.IsInf(m[0], -1) {
		t.Errorf("special values: n=%v p=%v m=%v", n, p, m)
	}
	if o := only(t, db, "o"); !equal(o, []float64{1}) {
		t.Errorf("o = %v, want the out-of-order sample dropped", o)
	}
	if up := only(t, db, "up"); !equal(up, []float64{1, 1}) {
		t.Errorf("up = %v: rejected samples must not fail the scrape", up)
	}
	for reason, want := range map[string]float64{rejectDuplicate: 1, rejectOutOfOrder: 1} {
		if n := testutil.ToFloat64(l.m.rejected.WithLabelValues("gw", reason)); n != want {
			t.Errorf("rejected{reason=%s} = %v, want %v", reason, n, want)
		}
	}
}

func TestHonorLabelsAndRelabeling(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_me\n        action: drop\n")
	l.exp.set("a{job=\"theirs\"} 1\ndrop_me 1\n")
	l.scrape(context.Background(), at(0))
	a := samples(t, db, "a")
	for k := range a {
		if !strings.Contains(k, `exported_job="theirs"`) || !strings.Contains(k, `job="gw"`) {
			t.Errorf("a conflicting job label must become exported_job: %s", k)
		}
	}
	if d := samples(t, db, "drop_me"); len(d) != 0 {
		t.Errorf("dropped series stored: %v", d)
	}
	if v := only(t, db, "scrape_samples_post_metric_relabeling"); !equal(v, []float64{1}) {
		t.Errorf("post relabel = %v", v)
	}

	db2 := newTestDB(t)
	h := newTestLoop(t, db2, "    honor_labels: true\n")
	h.exp.set("a{job=\"theirs\"} 1\n")
	h.scrape(context.Background(), at(0))
	for k := range samples(t, db2, "a") {
		if !strings.Contains(k, `job="theirs"`) || strings.Contains(k, "exported_job") {
			t.Errorf("honor_labels must keep the exposed job: %s", k)
		}
	}
}

func TestGzipAndOpenMetrics(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	l.exp.gzip = true
	l.exp.contentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
	l.exp.set("# TYPE c counter\nc_total 4\n# EOF\n")
	l.scrape(context.Background(), at(0))
	if st := l.snapshot(); st.Health != HealthGood {
		t.Fatalf("status: %+v", st)
	}
	if c := only(t, db, "c_total"); !equal(c, []float64{4}) {
		t.Errorf("c_total = %v", c)
	}
}

func TestCacheForgetsWhatFailedScrapesSaw(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "    sample_limit: 3\n")
	l.exp.set("a 1\nb 1\n")
	l.scrape(context.Background(), at(0))
	// Over the limit with churning series: the scrape fails, its new series
	// must not stay cached.
	l.exp.set("x1 1\nx2 1\nx3 1\nx4 1\nx5 1\n")
	l.scrape(context.Background(), at(1))
	if got := only(t, db, "scrape_samples_scraped"); !equal(got, []float64{2, 5}) {
		t.Errorf("scrape_samples_scraped = %v: a sample_limit failure still reports the whole count", got)
	}
	l.exp.set("a 2\n")
	l.scrape(context.Background(), at(2))
	l.scrape(context.Background(), at(3))
	if len(l.cache) != 1 {
		t.Errorf("cache holds %d entries after the target settled on one series", len(l.cache))
	}
	if b := only(t, db, "b"); len(b) != 2 || !isStale(b[1]) {
		t.Errorf("b = %v: the failed scrape must have marked it stale", b)
	}
	if added := only(t, db, "scrape_series_added"); !equal(added, []float64{2, 0, 0, 0}) {
		t.Errorf("scrape_series_added = %v", added)
	}
}

func TestSeriesAddedExcludesDroppedAndExportedLabelsNest(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_me\n        action: drop\n")
	l.exp.set("a{job=\"x\",exported_job=\"y\"} 1\ndrop_me 1\n")
	l.scrape(context.Background(), at(0))
	if added := only(t, db, "scrape_series_added"); !equal(added, []float64{1}) {
		t.Errorf("scrape_series_added = %v, want 1: dropped series are not added", added)
	}
	for k := range samples(t, db, "a") {
		if !strings.Contains(k, `exported_exported_job="x"`) || !strings.Contains(k, `exported_job="y"`) {
			t.Errorf("conflicting labels: %s", k)
		}
	}
}

func TestDuplicatesWithTimestampsAreKept(t *testing.T) {
	db := newTestDB(t)
	l := newTestLoop(t, db, "")
	ms := func(i int) string { return strconv.FormatInt(timestamp.FromTime(at(i)), 10) }
	l.exp.set("a 1 " + ms(0) + "\na 2 " + ms(1) + "\n")
	l.scrape(context.Background(), at(1))
	if a := only(t, db, "a"); !equal(a, []float64{1, 2}) {
		t.Errorf("a = %v: samples of one series at different timestamps are not duplicates", a)
	}
	if n := testutil.ToFloat64(l.m.rejected.WithLabelValues("gw", rejectDuplicate)); n != 0 {
		t.Errorf("rejected{duplicate} = %v", n)
	}
}
