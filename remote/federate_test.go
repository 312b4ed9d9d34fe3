package remote

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// TestFederateIsTheLatestSamples parses /federate's answer back and holds
// it to what the PromQL engine says the TSDB's latest samples are: an
// instant selector at the same time, the same lookback, stale series out.
func TestFederateIsTheLatestSamples(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().Truncate(time.Second)
	app := db.Appender(context.Background())
	add := func(ago time.Duration, v float64, ls ...string) {
		if _, err := app.Append(0, labels.FromStrings(ls...), now.Add(-ago).UnixMilli(), v); err != nil {
			t.Fatal(err)
		}
	}
	for i, ago := range []time.Duration{90 * time.Second, 60 * time.Second, 30 * time.Second} {
		add(ago, float64(i), "__name__", "fed_requests_total", "key", "a")
		add(ago, float64(10*i), "__name__", "fed_requests_total", "key", "b", "node", "own") // its own node label wins
		add(ago, 1, "__name__", "fed_up", "instance", "gw:9095")
	}
	add(6*time.Minute, 7, "__name__", "fed_old", "key", "gone") // beyond the lookback
	add(40*time.Second, 3, "__name__", "fed_stale", "key", "s")
	add(20*time.Second, math.Float64frombits(value.StaleNaN), "__name__", "fed_stale", "key", "s")
	add(time.Second, 5, "__name__", "other", "key", "x") // not selected
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}

	f := NewFederation(Federation{
		Queryable: db, External: func() labels.Labels { return labels.FromStrings("node", "n1", "region", "eu") },
		Lookback: 5 * time.Minute, Now: func() time.Time { return now }, Logger: promslog.NewNopLogger(),
	}, prometheus.NewRegistry())
	q := url.Values{"match[]": {`{__name__=~"fed_.*"}`, `fed_up`}}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/federate?"+q.Encode(), nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := parseFederation(t, rec.Body.String())

	// What the engine says, with the external labels added as federation
	// adds them (a series' own label kept). timestamp() drops the name, so
	// both answers are joined on the other labels.
	instant := func(expr string) promql.Vector {
		eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
		qry, err := eng.NewInstantQuery(context.Background(), db, nil, expr, now)
		if err != nil {
			t.Fatal(err)
		}
		res := qry.Exec(context.Background())
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		vec, _ := res.Vector()
		return vec
	}
	at := map[string]float64{}
	for _, s := range instant(`timestamp({__name__=~"fed_.*"})`) {
		at[s.Metric.String()] = s.F
	}
	want := map[string]model.SamplePair{}
	for _, s := range instant(`{__name__=~"fed_.*"}`) {
		b := labels.NewBuilder(s.Metric)
		for _, l := range []labels.Label{{Name: "node", Value: "n1"}, {Name: "region", Value: "eu"}} {
			if s.Metric.Get(l.Name) == "" {
				b.Set(l.Name, l.Value)
			}
		}
		ts := at[s.Metric.DropMetricName().String()]
		want[b.Labels().String()] = model.SamplePair{Timestamp: model.Time(ts * 1000), Value: model.SampleValue(s.F)}
	}
	if len(want) != 3 {
		t.Fatalf("the engine sees %d series, want 3: %v", len(want), want)
	}
	if len(got) != len(want) {
		t.Fatalf("federation has %d series, want %d:\n%v\n%v", len(got), len(want), got, want)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: federation %v, engine %v", k, g, w)
		}
	}
}

// parseFederation reads the text exposition back as series → sample,
// checking the families are untyped and carry timestamps.
func parseFederation(t *testing.T, body string) map[string]model.SamplePair {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the federation output: %v\n%s", err, body)
	}
	out := map[string]model.SamplePair{}
	for name, fam := range fams {
		if fam.GetType() != dto.MetricType_UNTYPED {
			t.Errorf("%s is %s, want untyped", name, fam.GetType())
		}
		for _, m := range fam.Metric {
			b := labels.NewBuilder(labels.FromStrings("__name__", name))
			for _, lp := range m.Label {
				b.Set(lp.GetName(), lp.GetValue())
			}
			if m.TimestampMs == nil {
				t.Errorf("%s has no timestamp", name)
			}
			out[b.Labels().String()] = model.SamplePair{Timestamp: model.Time(m.GetTimestampMs()), Value: model.SampleValue(m.GetUntyped().GetValue())}
		}
	}
	return out
}

// TestFederateRefusesBadSelectors answers 400 with the parser's reason.
func TestFederateRefusesBadSelectors(t *testing.T) {
	f := NewFederation(Federation{External: labels.EmptyLabels, Now: time.Now, Logger: promslog.NewNopLogger()}, prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/federate?match[]="+url.QueryEscape(`{key="a"`), nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "parse error") {
		t.Errorf("status %d: %s", rec.Code, rec.Body)
	}
}
