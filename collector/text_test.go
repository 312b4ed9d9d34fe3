package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
)

// FuzzTextMatchesParser holds the text reader, which takes known series
// itself and reads the body a window at a time, to textparse reading the
// whole body: the same samples, labels, stats, names and outcome, over
// three scrapes (new series, cached series, the lines reversed). Windows
// of a few bytes cut every line somewhere.
func FuzzTextMatchesParser(f *testing.F) {
	for _, s := range []string{
		"# TYPE gateway_requests_total counter\ngateway_requests_total{master=\"m1\",code=\"200\"} 5\ngateway_requests_total{master=\"m2\",code=\"200\"} 7\n# TYPE g gauge\ng 1.5\n",
		"a 1\nb 1\n", "a 1\nb{ 1\n", "a{x=\"1\",y=\"2\"} 1\nz 2", "d 1\nd 2\nn NaN\np +Inf\nm -Inf\no 1 1795000000000\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} 1\nh_bucket{le=\"2\"} 3\n",
		"a{x=\"multi\nline\"} 1\na{x=\"y\"} 2\nb 3\n", "a 1\n\x00\nb 1\n", "a 1\n# HELP \"q\nx\" text\nb 2\n",
		"a {x=\"1\"} 2\n  b 3\nc\t4\nd 5 \ne 6\r\n", "a{x=\"}\\\" \"} 1\na{x=\"\\\\\"} 2\n", "{\"quoted.name\",\"label.with.dot\"=\"v\"} 1\n",
		"a 0x1p-2\nb 1_0\nc 1e3\nd .5\ne 1 -5\nf 1 12a\n", "a 1\na 2\nb 1 1795000000000\nb 2 1795000000010\n",
		"#TYPE x counter\n# TYPEx y\n# TYPE h histogram\n#  HELP h \"x\" y\nh_bucket{le=\"1\"} 1\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(0))
		f.Add([]byte(s), uint8(200), uint8(1))
	}
	f.Add(gatewaysimBody(f, "text/plain;version=0.0.4"), uint8(17), uint8(0))
	f.Add(gatewaysimBody(f, "text/plain;version=0.0.4"), uint8(100), uint8(1))

	dir := f.TempDir()
	m := newMetrics(prometheus.NewRegistry())
	var jobs []fuzzJob
	for _, yml := range fuzzJobs {
		jobs = append(jobs, newFuzzJob(f, yml))
	}
	f.Fuzz(func(t *testing.T, body []byte, window, mode uint8) {
		j := jobs[int(mode)%len(jobs)]
		streamed := newRecordingLoop(t, dir, j, m)
		streamed.l.windowSize = 1 + int(window)
		parsed := newRecordingLoop(t, dir, j, m)
		bodies := [][]byte{body, body, reverseLines(body)}
		for i, b := range bodies {
			ts := time.Date(2026, 11, 22, 10, 0, 10*i, 0, time.UTC).UnixMilli()
			got := streamed.scrape(func(l *loop) (scrapeStats, []string, error) {
				return l.append(context.Background(), bytes.NewReader(b), "text/plain; version=0.0.4", ts)
			})
			want := parsed.scrape(func(l *loop) (scrapeStats, []string, error) {
				return l.transact(context.Background(), ts, func(bt *batch) error {
					return l.appendParsed(bt, bytes.NewReader(b), "text/plain; version=0.0.4")
				})
			})
			if got != want {
				t.Fatalf("scrape %d of %q (window %d):\ntext reader: %s\ntextparse:   %s", i, b, streamed.l.windowSize, got, want)
			}
		}
	})
}

type fuzzJob struct {
	sc *config.ScrapeConfig
	t  *target
}

func newFuzzJob(tb testing.TB, yml string) fuzzJob {
	sc := scrapeConfig(tb, yml)
	tg, err := newTarget(sc, "127.0.0.1:9300", map[string]string{"env": "fuzz"})
	if err != nil {
		tb.Fatal(err)
	}
	return fuzzJob{sc, tg}
}

type recordingLoop struct {
	l   *loop
	rec *recordingAppendable
}

func newRecordingLoop(t *testing.T, root string, j fuzzJob, m *metrics) *recordingLoop {
	dir, err := os.MkdirTemp(root, "head")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := tsdb.DefaultHeadOptions()
	o.ChunkDirRoot, o.StripeSize = dir, 64
	head, err := tsdb.NewHead(nil, nil, nil, nil, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { head.Close() })
	rec := &recordingAppendable{app: head}
	return &recordingLoop{l: newLoop("gw", j.t, j.sc, nil, rec, m, func(Event) {}, slog.New(slog.DiscardHandler)), rec: rec}
}

// scrape runs one append and describes everything it did.
func (r *recordingLoop) scrape(appendBody func(*loop) (scrapeStats, []string, error)) string {
	r.rec.committed = r.rec.committed[:0]
	st, names, err := appendBody(r.l)
	outcome := "ok"
	var se *scrapeError
	if errors.As(err, &se) {
		outcome = se.reason
	} else if err != nil {
		outcome = "untyped error " + err.Error()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %+v names=%v", outcome, st, names)
	for _, a := range r.rec.committed {
		fmt.Fprintf(&b, "\n  %s t=%d v=%x stale=%v", a.lset, a.t, a.v, a.stale)
	}
	return b.String()
}

func reverseLines(body []byte) []byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	slices.Reverse(lines)
	return bytes.Join(lines, nil)
}
