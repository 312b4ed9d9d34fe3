package promapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/collector"
	"github.com/gatewarden/gatewarden/config"
)

type fakeMetadata []collector.TargetMetadata

func (f fakeMetadata) Metadata() []collector.TargetMetadata { return f }

func metadataFixture(t *testing.T) *fixture {
	a := labels.FromStrings("instance", "a:9100", "job", "gateway")
	b := labels.FromStrings("instance", "b:9100", "job", "gateway")
	req := collector.MetricMetadata{Metric: "gateway_requests_total", Type: "counter", Help: "Requests."}
	return newFixture(t, func(o *Options) {
		o.Metadata = fakeMetadata{
			{Labels: a, ScrapePool: "gateway", Metrics: []collector.MetricMetadata{req, {Metric: "up_seconds", Type: "gauge", Unit: "seconds"}}},
			{Labels: b, ScrapePool: "gateway", Metrics: []collector.MetricMetadata{{Metric: "gateway_requests_total", Type: "counter", Help: "Other help."}, req}},
		}
	})
}

func TestMetricMetadata(t *testing.T) {
	f := metadataFixture(t)
	reqs := `"gateway_requests_total":[{"type":"counter","help":"Requests.","unit":""},{"type":"counter","help":"Other help.","unit":""}]`
	up := `"up_seconds":[{"type":"gauge","help":"","unit":"seconds"}]`
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"all", nil, ok(`{` + reqs + `,` + up + `}`)},
		{"limit", vals("limit", "1"), ok(`{` + reqs + `}`)},
		{"limit 0", vals("limit", "0"), ok(`{}`)},
		{"per metric", vals("limit_per_metric", "1"), ok(`{"gateway_requests_total":[{"type":"counter","help":"Requests.","unit":""}],` + up + `}`)},
		{"metric", vals("metric", "up_seconds"), ok(`{` + up + `}`)},
		{"unknown metric", vals("metric", "nope"), ok(`{}`)},
	} {
		t.Run(tc.name, func(t *testing.T) { f.get(t, "/api/v1/metadata", tc.params).expect(t, 200, tc.want) })
	}
	f.get(t, "/api/v1/metadata", vals("limit", "x")).expectError(t, 400, "bad_data", "limit must be a number")
}

func TestTargetMetadata(t *testing.T) {
	f := metadataFixture(t)
	ta := `{"instance":"a:9100","job":"gateway"}`
	tb := `{"instance":"b:9100","job":"gateway"}`
	f.get(t, "/api/v1/targets/metadata", vals("match_target", `{instance="a:9100"}`)).expect(t, 200, ok(`[`+
		`{"target":`+ta+`,"metric":"gateway_requests_total","type":"counter","help":"Requests.","unit":""},`+
		`{"target":`+ta+`,"metric":"up_seconds","type":"gauge","help":"","unit":"seconds"}]`))
	f.get(t, "/api/v1/targets/metadata", vals("metric", "gateway_requests_total", "limit", "1")).expect(t, 200, ok(`[`+
		`{"target":`+ta+`,"type":"counter","help":"Requests.","unit":""}]`))
	f.get(t, "/api/v1/targets/metadata", vals("metric", "gateway_requests_total", "match_target", `{instance="b:9100"}`)).expect(t, 200, ok(`[`+
		`{"target":`+tb+`,"type":"counter","help":"Other help.","unit":""},{"target":`+tb+`,"type":"counter","help":"Requests.","unit":""}]`))
	f.get(t, "/api/v1/targets/metadata", vals("match_target", `{`)).expectError(t, 400, "bad_data",
		`invalid parameter "match_target": 1:2: parse error: unexpected end of input inside braces`)
}

func TestStatusEndpoints(t *testing.T) {
	cfg, err := config.Load([]byte("scrape_configs: [{job_name: b, static_configs: [{targets: [x:1]}]}, {job_name: a}]\n"+
		"storage: {retention: 6h, database_url: \"postgres://u:pw-SECRET@db/x\"}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, func(o *Options) {
		o.Config = func() *config.Config { return cfg }
		o.Flags = map[string]string{"web.listen-address": ":9095"}
		o.StartTime = started
		o.Head = o.Queryable.(*tsdb.DB)
	})
	r := f.get(t, "/api/v1/status/config", nil)
	if strings.Contains(r.body, "pw-SECRET") || !strings.Contains(r.body, `database_url: \u003csecret\u003e`) {
		t.Errorf("config: %s", r.body)
	}
	f.get(t, "/api/v1/status/flags", nil).expect(t, 200, ok(`{"web.listen-address":":9095"}`))
	f.get(t, "/api/v1/scrape_pools", nil).expect(t, 200, ok(`{"scrapePools":["a","b"]}`))
	f.get(t, "/api/v1/notifications", nil).expect(t, 200, ok(`[]`))
	f.get(t, "/api/v1/alertmanagers", nil).expect(t, 200, ok(`{"activeAlertmanagers":[],"droppedAlertmanagers":[]}`))
	f.get(t, "/api/v1/status/walreplay", nil).expect(t, 200, ok(`{"min":0,"max":0,"current":0}`))

	var ri struct {
		Data runtimeInfo `json:"data"`
	}
	decode(t, f.get(t, "/api/v1/status/runtimeinfo", nil), &ri)
	if !ri.Data.StartTime.Equal(started) || ri.Data.StorageRetention != "6h" || !ri.Data.ReloadConfigSuccess || ri.Data.GOMAXPROCS < 1 {
		t.Errorf("runtimeinfo: %+v", ri.Data)
	}
	var ts struct {
		Data tsdbStatus `json:"data"`
	}
	decode(t, f.get(t, "/api/v1/status/tsdb", vals("limit", "2")), &ts)
	if h := ts.Data.HeadStats; h.NumSeries != 6 || h.MinTime != t0.Add(-2*time.Hour).UnixMilli() || h.MaxTime != t0.Add(10*time.Minute).UnixMilli() {
		t.Errorf("head stats: %+v", h)
	}
	// up and gateway_requests_total tie at two series each.
	if got := ts.Data.SeriesCountByMetricName; len(got) != 2 || got[0].Value != 2 || got[1].Value != 2 {
		t.Errorf("seriesCountByMetricName: %+v", got)
	}
	f.get(t, "/api/v1/status/tsdb", vals("limit", "0")).expectError(t, 400, "bad_data", "limit must be a positive number")
}

func decode(t *testing.T, r response, v any) {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatal(err)
	}
}

// TestQueryStats asks for stats as Grafana's query inspector does and
// checks Prometheus's keys: timings, samples, and per step with stats=all.
func TestQueryStats(t *testing.T) {
	f := newFixture(t)
	var got struct {
		Data struct {
			Stats struct {
				Timings map[string]float64 `json:"timings"`
				Samples map[string]any     `json:"samples"`
			} `json:"stats"`
		} `json:"data"`
	}
	decode(t, f.get(t, "/api/v1/query_range", vals("query", "up", "start", unix(t0), "end", unix(t0.Add(time.Minute)), "step", "30", "stats", "all")), &got)
	for _, k := range []string{"evalTotalTime", "resultSortTime", "queryPreparationTime", "innerEvalTime", "execQueueTime", "execTotalTime"} {
		if _, found := got.Data.Stats.Timings[k]; !found {
			t.Errorf("timings lack %s: %v", k, got.Data.Stats.Timings)
		}
	}
	if got.Data.Stats.Samples["totalQueryableSamples"] != 6.0 || got.Data.Stats.Samples["totalQueryableSamplesPerStep"] == nil {
		t.Errorf("samples: %v", got.Data.Stats.Samples)
	}
	if r := f.get(t, "/api/v1/query", vals("query", "up", "time", unix(testNow))); strings.Contains(r.body, `"stats"`) {
		t.Errorf("stats without asking: %s", r.body)
	}
}
