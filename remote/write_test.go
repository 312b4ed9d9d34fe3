package remote

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/promtest"
)

// rig is a local TSDB with a Writer sending to one real server.
type rig struct {
	t    *testing.T
	db   *tsdb.DB
	w    *Writer
	reg  *prometheus.Registry
	srv  *promtest.Server
	next time.Time // the next sample's timestamp
}

func newRig(t *testing.T, srv *promtest.Server, extra ...string) *rig {
	t.Helper()
	dir := t.TempDir()
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, reg: prometheus.NewRegistry(), srv: srv}
	r.w = NewWriter(db, dir, 5*time.Second, r.reg, promslog.NewNopLogger())
	t.Cleanup(func() {
		_ = r.w.Close()
		_ = db.Close()
	})
	cfg, err := config.Load([]byte(fmt.Sprintf(`
global: {external_labels: {node: n1}}
remote_write:
  - url: %s%s
    queue_config: {batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 200ms}
%s`, srv.URL, srv.WritePath, strings.Join(extra, ""))), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.w.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	// The queues send what is newer than their watcher's start, as
	// Prometheus's do; the watcher reports its segment once started.
	promtest.Poll(t, 30*time.Second, "the WAL watcher started", func() (bool, error) {
		mfs, err := r.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "prometheus_wal_watcher_current_segment" && len(mf.Metric) > 0 {
				return true, err
			}
		}
		return false, err
	})
	r.next = time.Now().Add(10 * time.Millisecond).Truncate(time.Millisecond)
	return r
}

// append commits n scrapes of 20 series (and an ALERTS series, as the
// evaluator writes it) through the Writer.
func (r *rig) append(n int) {
	r.t.Helper()
	for range n {
		app := r.w.Appender(context.Background())
		ts := r.next.UnixMilli()
		for i := range 20 {
			lset := labels.FromStrings("__name__", "rwtest_requests_total", "key", fmt.Sprintf("k%02d", i))
			if _, err := app.Append(0, lset, ts, float64(ts%100000)/4+float64(i)); err != nil {
				r.t.Fatal(err)
			}
		}
		if _, err := app.Append(0, labels.FromStrings("__name__", "ALERTS", "alertname", "RWTest", "alertstate", "firing"), ts, 1); err != nil {
			r.t.Fatal(err)
		}
		if err := app.Commit(); err != nil {
			r.t.Fatal(err)
		}
		r.next = r.next.Add(100 * time.Millisecond)
	}
}

// local is every raw sample the TSDB holds, keyed as the server will key
// them: with the external label.
func (r *rig) local() map[string][]model.SamplePair {
	r.t.Helper()
	q, err := r.db.Querier(0, r.next.UnixMilli())
	if err != nil {
		r.t.Fatal(err)
	}
	defer q.Close()
	out := map[string][]model.SamplePair{}
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "rwtest_.*|ALERTS"))
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		m := model.Metric{"node": "n1"}
		s.Labels().Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		it = s.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			out[m.String()] = append(out[m.String()], model.SamplePair{Timestamp: model.Time(t), Value: model.SampleValue(v)})
		}
	}
	if set.Err() != nil {
		r.t.Fatal(set.Err())
	}
	return out
}

// arrived waits until the server holds exactly the local samples.
func (r *rig) arrived(what string) {
	r.t.Helper()
	want := r.local()
	var got map[string][]model.SamplePair
	promtest.Poll(r.t, 60*time.Second, what, func() (bool, error) {
		var err error
		got, err = r.srv.Samples(context.Background(), `{__name__=~"rwtest_.*|ALERTS"}`, time.Now().Add(-time.Hour), r.next)
		return err == nil && samplesEqual(got, want), nil
	})
	n := 0
	for _, v := range want {
		n += len(v)
	}
	r.t.Logf("%s: %d series, %d samples on %s", what, len(want), n, r.srv.Kind)
}

func samplesEqual(a, b map[string][]model.SamplePair) bool {
	return maps.EqualFunc(a, b, func(x, y []model.SamplePair) bool { return slices.Equal(x, y) })
}

// TestRemoteWriteArrives sends through Prometheus's queue manager to a real
// Prometheus and a real VictoriaMetrics: the same series and samples arrive,
// the external label on each, ALERTS among them.
func TestRemoteWriteArrives(t *testing.T) {
	eachServer(t, func(t *testing.T, srv *promtest.Server) {
		r := newRig(t, srv)
		r.append(30)
		r.arrived("the samples")
		if got := counter(t, r.reg, "prometheus_remote_storage_samples_total"); got != float64(30*21) {
			t.Errorf("prometheus_remote_storage_samples_total = %v, want %d", got, 30*21)
		}
	})
}

// TestRemoteWriteV2 sends Remote-Write 2.0 (protobuf_message
// io.prometheus.write.v2.Request) to Prometheus, which accepts both
// protocols: the same samples arrive.
func TestRemoteWriteV2(t *testing.T) {
	srv := promtest.Prometheus(t)
	r := newRig(t, srv, "    protobuf_message: io.prometheus.write.v2.Request\n")
	r.append(20)
	r.arrived("the samples over v2")
}

// TestRemoteWriteOutage stops the receiving server while samples keep
// coming: the queue retries, loses nothing and catches up when the server
// is back on the same address.
func TestRemoteWriteOutage(t *testing.T) {
	eachServer(t, func(t *testing.T, srv *promtest.Server) {
		r := newRig(t, srv)
		r.append(10)
		r.arrived("before the outage")
		srv.Stop()
		r.append(40)
		promtest.Poll(t, 30*time.Second, "failed sends while the server is down", func() (bool, error) {
			return counter(t, r.reg, "prometheus_remote_storage_samples_retried_total") > 0, nil
		})
		srv.Start()
		r.append(10)
		r.arrived("after the outage")
	})
}

// counter sums a gathered counter over its series (one queue here).
func counter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestCheckRefusesWhatApplyWould: a reload with an endpoint whose client
// cannot be built fails the dry run, before any part takes the config.
func TestCheckRefusesWhatApplyWould(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := NewWriter(db, t.TempDir(), time.Second, prometheus.NewRegistry(), promslog.NewNopLogger())
	defer w.Close()
	cfg, err := config.Load([]byte("remote_write:\n  - url: https://x/write\n    tls_config: {ca_file: /nonexistent/ca.pem}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(cfg); err == nil || !strings.Contains(err.Error(), "ca.pem") {
		t.Errorf("Check = %v, want the missing CA file", err)
	}
}

// eachServer runs test against each receiver every remote_write test
// covers, started for the subtest and stopped after it.
func eachServer(t *testing.T, test func(t *testing.T, srv *promtest.Server)) {
	for _, s := range []struct {
		kind  string
		start func(testing.TB) *promtest.Server
	}{
		{"prometheus", func(t testing.TB) *promtest.Server { return promtest.Prometheus(t) }},
		{"victoriametrics", promtest.VictoriaMetrics},
	} {
		t.Run(s.kind, func(t *testing.T) { test(t, s.start(t)) })
	}
}
