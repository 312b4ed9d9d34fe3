package remote

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"
)

// Federation serves /federate as Prometheus does: the latest sample within
// the lookback of every series any match[] selects, in the exposition
// format the client asks for, external labels added where a series lacks
// them, so an existing Prometheus can federate sidecars with honor_labels.
type Federation struct {
	Queryable storage.Queryable
	// External returns the config's external labels as they are now.
	External func() labels.Labels
	Lookback time.Duration
	Now      func() time.Time
	Logger   *slog.Logger

	failures prometheus.Counter
}

// selectors parses match[] as the query API does.
var selectors = parser.NewParser(parser.Options{})

// NewFederation registers the endpoint's failure counter.
func NewFederation(f Federation, reg prometheus.Registerer) *Federation {
	f.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewarden_federation_errors_total",
		Help: "Federation requests that failed after their selectors were accepted.",
	})
	reg.MustRegister(f.failures)
	return &f
}

func (f *Federation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "error parsing form values: "+err.Error(), http.StatusBadRequest)
		return
	}
	sets, err := selectors.ParseMetricSelectors(r.Form["match[]"])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := f.Now()
	latest, err := f.latest(r, sets, timestamp.FromTime(now.Add(-f.Lookback)), timestamp.FromTime(now))
	if err != nil {
		f.failures.Inc()
		code := http.StatusInternalServerError
		if errors.Is(err, tsdb.ErrNotReady) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), code)
		return
	}
	format := expfmt.Negotiate(r.Header)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, fam := range families(latest, f.External()) {
		if err := enc.Encode(fam); err != nil {
			// The client has gone; the status line is already out.
			f.failures.Inc()
			f.Logger.Debug("federation response cut short", "err", err)
			return
		}
	}
}

// sample is a series' latest float sample.
type sample struct {
	lset labels.Labels
	t    int64
	v    float64
}

// latest reads each selected series' newest sample at or before maxt.
// Stale markers are left out: the exposition formats cannot carry them,
// and a federating Prometheus marks the series stale when it disappears.
// Native histograms are left out too: gatewarden's collector reads the
// text format, which has none.
func (f *Federation) latest(r *http.Request, sets [][]*labels.Matcher, mint, maxt int64) ([]sample, error) {
	q, err := f.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: mint, End: maxt}
	var ss []storage.SeriesSet
	for _, ms := range sets {
		ss = append(ss, q.Select(r.Context(), true, hints, ms...))
	}
	set := storage.NewMergeSeriesSet(ss, 0, storage.ChainedSeriesMerge)
	var (
		out []sample
		it  chunkenc.Iterator
	)
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		// ok says the latest sample is a float: a series whose latest is
		// a histogram is left out, not served an older float.
		last, ok := sample{lset: s.Labels()}, false
		for vt := it.Next(); vt != chunkenc.ValNone && it.AtT() <= maxt; vt = it.Next() {
			ok = vt == chunkenc.ValFloat
			if ok {
				last.t, last.v = it.At()
			}
		}
		if it.Err() != nil {
			return nil, it.Err()
		}
		if ok && !value.IsStaleNaN(last.v) {
			out = append(out, last)
		}
	}
	return out, set.Err()
}

// families groups samples by metric name as untyped families, Prometheus's
// federation output: the name's type is not kept in the TSDB.
func families(samples []sample, external labels.Labels) []*dto.MetricFamily {
	slices.SortStableFunc(samples, func(a, b sample) int {
		return strings.Compare(a.lset.Get(labels.MetricName), b.lset.Get(labels.MetricName))
	})
	// As Prometheus: an empty instance label is added unless external
	// labels set one, so that a server federating with honor_labels keeps
	// the series without an instance rather than giving it the sidecar's.
	ext := map[string]string{model.InstanceLabel: ""}
	external.Range(func(l labels.Label) { ext[l.Name] = l.Value })
	names := slices.Sorted(maps.Keys(ext))
	var out []*dto.MetricFamily
	for _, s := range samples {
		name := s.lset.Get(labels.MetricName)
		if name == "" {
			continue
		}
		if len(out) == 0 || out[len(out)-1].GetName() != name {
			out = append(out, &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_UNTYPED.Enum()})
		}
		fam := out[len(out)-1]
		fam.Metric = append(fam.Metric, metric(s, names, ext))
	}
	return out
}

func metric(s sample, names []string, ext map[string]string) *dto.Metric {
	m := &dto.Metric{TimestampMs: proto.Int64(s.t), Untyped: &dto.Untyped{Value: proto.Float64(s.v)}}
	s.lset.Range(func(l labels.Label) {
		if l.Name != labels.MetricName && l.Value != "" {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
		}
	})
	for _, name := range names {
		if !s.lset.Has(name) {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(name), Value: proto.String(ext[name])})
		}
	}
	return m
}
