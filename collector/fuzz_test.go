package collector

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
)

// fuzzContentTypes are what a target may answer with. The collector asks
// for the first two; a target may still send protobuf, or a header
// textparse cannot read, which falls back to the text format.
var fuzzContentTypes = []string{
	"text/plain; version=0.0.4",
	"application/openmetrics-text; version=1.0.0; charset=utf-8",
	"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
	"text/html",
}

// fuzzJobs are the scrape configs an input is appended under: limits low
// enough that small inputs cross them (four target labels leave two),
// then honor_labels with metric relabeling, so both label paths of
// mutate are reached.
var fuzzJobs = []string{
	"    sample_limit: 4\n    label_limit: 6\n",
	"    honor_labels: true\n    honor_timestamps: false\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_me\n        action: drop\n      - regex: (m.*)\n        action: labeldrop\n",
}

// FuzzScrapeAppend parses a scraped body as the loop does, twice (the
// second time from the series cache, with staleness), into a real TSDB
// head, and holds what was committed to the collector's limits.
func FuzzScrapeAppend(f *testing.F) {
	ms := fuzzTimestamp(0)
	for _, s := range []string{
		// The bodies loop_test.go scrapes.
		"# TYPE gateway_requests_total counter\ngateway_requests_total{master=\"m1\",code=\"200\"} 5\ngateway_requests_total{master=\"m2\",code=\"200\"} 7\n# TYPE g gauge\ng 1.5\n",
		"a 1\nb 1\n", "a 1\nb{ 1\n", "a{1x=\"1\"} 1\n", "a{x=\"1\",y=\"2\"} 1\n",
		"d 1\nd 2\nn NaN\np +Inf\nm -Inf\no 1 " + ms + "\n",
		"a{job=\"theirs\"} 1\ndrop_me 1\n", "a{job=\"x\",exported_job=\"y\"} 1\ndrop_me 1\n",
		"a 1 " + ms + "\na 2 " + fuzzTimestamp(1) + "\n",
		"x1 1\nx2 1\nx3 1\nx4 1\nx5 1\n",
		"{\"quoted.name\",\"label.with.dot\"=\"v\"} 1\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(len(fuzzContentTypes)))
	}
	f.Add([]byte("# TYPE c counter\nc_total 4\n# EOF\n"), uint8(1))
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3\nh_created 1.5e9\n# EOF\n"), uint8(1))
	for i, accept := range []string{"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"} {
		body := gatewaysimBody(f, accept)
		f.Add(body, uint8(i))
		f.Add(body, uint8(i+len(fuzzContentTypes)))
	}

	chunks := f.TempDir()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	logger := slog.New(slog.DiscardHandler)
	var jobs []fuzzJob
	for _, yml := range fuzzJobs {
		jobs = append(jobs, newFuzzJob(f, yml))
	}

	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		ct := fuzzContentTypes[int(mode)%len(fuzzContentTypes)]
		j := jobs[int(mode)/len(fuzzContentTypes)%len(jobs)]
		// A fresh head per input keeps an input's outcome its own: a
		// shared one would refuse later inputs' samples as out of bounds
		// once one input carried a far-future timestamp.
		dir, err := os.MkdirTemp(chunks, "head")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		o := tsdb.DefaultHeadOptions()
		o.ChunkDirRoot, o.StripeSize = dir, 64
		head, err := tsdb.NewHead(nil, nil, nil, nil, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer head.Close()
		rec := &recordingAppendable{app: head}
		l := newLoop("gw", j.t, j.sc, nil, rec, m, func(Event) {}, logger)
		for i := range 2 {
			rec.committed = rec.committed[:0]
			st, names, err := l.append(context.Background(), bytes.NewReader(body), ct, time.Date(2026, 11, 22, 10, 0, 10*i, 0, time.UTC).UnixMilli())
			checkAppend(t, j.sc, rec.committed, st, names, err)
		}
	})
}

func checkAppend(t *testing.T, sc *config.ScrapeConfig, committed []appended, st scrapeStats, names []string, err error) {
	t.Helper()
	if err != nil {
		var se *scrapeError
		if !errors.As(err, &se) || se.reason == "" {
			t.Fatalf("error without a failure reason: %v", err)
		}
		if len(committed) > 0 {
			t.Fatalf("failed scrape (%v) committed %d samples, first %s", err, len(committed), committed[0].lset)
		}
		return
	}
	samples := 0
	for _, a := range committed {
		ls := a.lset
		if _, dup := ls.HasDuplicateLabelNames(); dup || !ls.Has(labels.MetricName) || !ls.IsValid(model.UTF8Validation) {
			t.Fatalf("committed an invalid label set: %s", ls)
		}
		if ls.Get(model.JobLabel) == "" || ls.Get(model.InstanceLabel) == "" {
			t.Fatalf("committed without target labels: %s", ls)
		}
		if n := int(sc.LabelLimit); n > 0 && ls.Len() > n {
			t.Fatalf("committed %d labels past label_limit %d: %s", ls.Len(), n, ls)
		}
		if len(sc.MetricRelabeling()) > 0 && ls.Get(labels.MetricName) == "drop_me" {
			t.Fatalf("committed a series metric relabeling drops: %s", ls)
		}
		if !a.stale {
			samples++
		}
	}
	if n := int(sc.SampleLimit); n > 0 && (samples > n || st.postRelabel > n) {
		t.Fatalf("scrape succeeded with %d samples committed, %d after relabeling, past sample_limit %d", samples, st.postRelabel, n)
	}
	if st.added > st.postRelabel || st.postRelabel > st.scraped || len(names) > samples {
		t.Fatalf("inconsistent stats %+v, %d names, %d samples committed", st, len(names), samples)
	}
}

// gatewaysimBody is one scrape of a small simulated gateway: the metric
// families the built-in rules read, histograms included.
func gatewaysimBody(f *testing.F, accept string) []byte {
	o := gatewaysim.DefaultOptions()
	o.Masters, o.KeysPerMaster, o.Providers, o.Models, o.Tenants, o.PluginsPerTenant, o.InstancesPerPlugin = 1, 1, 1, 1, 1, 1, 1
	o.BurstsPerHour = 0
	sim, err := gatewaysim.New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	sim.Step(time.Now())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", accept)
	sim.Handler().ServeHTTP(rec, req)
	return rec.Body.Bytes()
}

func fuzzTimestamp(i int) string {
	return strconv.FormatInt(time.Date(2026, 11, 22, 10, 0, 10*i, 0, time.UTC).UnixMilli(), 10)
}

// appended is one sample a transaction carried.
type appended struct {
	lset  labels.Labels
	stale bool
	t     int64
	v     uint64 // the float's bits, so NaNs compare
}

// recordingAppendable hands out appenders that remember what they carried
// and report it only once committed: the creator's rolled-back series
// transactions and a failed scrape's must leave nothing.
type recordingAppendable struct {
	app       storage.Appendable
	committed []appended
}

func (r *recordingAppendable) Appender(ctx context.Context) storage.Appender {
	return &recordingAppender{Appender: r.app.Appender(ctx), r: r}
}

type recordingAppender struct {
	storage.Appender
	r       *recordingAppendable
	pending []appended
}

func (a *recordingAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	ref, err := a.Appender.Append(ref, l, t, v)
	if err == nil {
		a.pending = append(a.pending, appended{lset: l, stale: value.IsStaleNaN(v), t: t, v: math.Float64bits(v)})
	}
	return ref, err
}

func (a *recordingAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, err := a.Appender.AppendHistogram(ref, l, t, h, fh)
	if err == nil {
		a.pending = append(a.pending, appended{lset: l, t: t})
	}
	return ref, err
}

func (a *recordingAppender) Commit() error {
	err := a.Appender.Commit()
	if err == nil {
		a.r.committed = append(a.r.committed, a.pending...)
	}
	return err
}
