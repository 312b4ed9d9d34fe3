package promapi

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	upA    = `{"__name__":"up","instance":"a:9100","job":"gateway"}`
	upB    = `{"__name__":"up","instance":"b:9100","job":"gateway"}`
	reqM1  = `{"__name__":"gateway_requests_total","code":"200","master":"m1"}`
	oldJob = `{"__name__":"old_metric","job":"old"}`
)

func ok(data string) string { return `{"status":"success","data":` + data + `}` }

// recent and past select the fixture's two time ranges.
var (
	recent = []string{"start", unix(t0), "end", unix(testNow)}
	past   = []string{"start", unix(t0.Add(-2 * time.Hour)), "end", unix(t0.Add(-90 * time.Minute))}
	future = []string{"start", unix(testNow.Add(time.Hour)), "end", unix(testNow.Add(2 * time.Hour))}
)

func with(base []string, kv ...string) url.Values {
	return vals(append(append([]string{}, base...), kv...)...)
}

func TestSeries(t *testing.T) {
	f := newFixture(t)
	_, selErr := parser.NewParser(parser.Options{}).ParseMetricSelectors([]string{"up{"})
	for _, tc := range []struct {
		name   string
		params url.Values
		code   int
		want   string
	}{
		{"one selector", vals("match[]", "up"), 200, ok(`[` + upA + `,` + upB + `]`)},
		{"selectors are merged and deduplicated", vals("match[]", "up", "match[]", `gateway_requests_total{master="m1"}`, "match[]", `up{instance="a:9100"}`), 200, ok(`[` + reqM1 + `,` + upA + `,` + upB + `]`)},
		{"regexp over all time", vals("match[]", `{job=~"old|gateway"}`), 200, ok(`[` + oldJob + `,` + upA + `,` + upB + `]`)},
		{"recent range", with(recent, "match[]", `{job=~"old|gateway"}`), 200, ok(`[` + upA + `,` + upB + `]`)},
		{"past range", with(past, "match[]", `{job=~"old|gateway"}`), 200, ok(`[` + oldJob + `]`)},
		{"no match", vals("match[]", "nope"), 200, ok(`[]`)},
		{"limit", vals("match[]", "up", "limit", "1"), 200, `{"status":"success","data":[` + upA + `],"warnings":["results truncated due to limit"]}`},
		{"limit not reached", vals("match[]", "up", "limit", "2"), 200, ok(`[` + upA + `,` + upB + `]`)},
		{"missing match[]", vals("start", unix(t0)), 400, `no match[] parameter provided`},
		{"empty matcher", vals("match[]", `{job=""}`), 400, `invalid parameter "match[]": match[] must contain at least one non-empty matcher`},
		{"bad selector", vals("match[]", `up{`), 400, `invalid parameter "match[]": ` + selErr.Error()},
		{"bad start", vals("match[]", "up", "start", "x"), 400, `invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp`},
		{"bad limit", vals("match[]", "up", "limit", "ten"), 400, `invalid parameter "limit": strconv.Atoi: parsing "ten": invalid syntax`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []response{f.get(t, "/api/v1/series", tc.params), f.post(t, "/api/v1/series", tc.params)} {
				if tc.code == 200 {
					r.expect(t, 200, tc.want)
				} else {
					r.expectError(t, tc.code, "bad_data", tc.want)
				}
			}
		})
	}
}

func TestLabelNames(t *testing.T) {
	f := newFixture(t)
	all := ok(`["__name__","code","http.status","instance","job","master"]`)
	for _, tc := range []struct {
		name   string
		params url.Values
		code   int
		want   string
	}{
		{"all", nil, 200, all},
		{"selector", vals("match[]", "up"), 200, ok(`["__name__","instance","job"]`)},
		{"selectors are merged", vals("match[]", "up", "match[]", "utf8_metric"), 200, ok(`["__name__","http.status","instance","job"]`)},
		// The head answers label lookups for its whole time range (as
		// Prometheus's does), so only a range outside it makes a difference.
		{"selector and past range", with(past, "match[]", `{job=~".+"}`), 200, ok(`["__name__","instance","job"]`)},
		{"range after the data", with(future, "match[]", `{job=~".+"}`), 200, ok(`[]`)},
		{"range after the data without selector", with(future), 200, ok(`[]`)},
		{"no match", vals("match[]", "nope"), 200, ok(`[]`)},
		{"limit", vals("limit", "2"), 200, `{"status":"success","data":["__name__","code"],"warnings":["results truncated due to limit"]}`},
		{"empty matcher", vals("match[]", `{job=~".*"}`), 400, `match[] must contain at least one non-empty matcher`},
		{"bad end", vals("end", "later"), 400, `invalid parameter "end": invalid time value for 'end': cannot parse "later" to a valid timestamp`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []response{f.get(t, "/api/v1/labels", tc.params), f.post(t, "/api/v1/labels", tc.params)} {
				if tc.code == 200 {
					r.expect(t, 200, tc.want)
				} else {
					r.expectError(t, tc.code, "bad_data", tc.want)
				}
			}
		})
	}
}

func TestLabelValues(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, label string
		params      url.Values
		code        int
		want        string
	}{
		{"job", "job", nil, 200, ok(`["gateway","old"]`)},
		{"metric names", "__name__", nil, 200, ok(`["gateway_requests_total","old_metric","up","utf8_metric"]`)},
		{"selector", "instance", vals("match[]", `up{instance!="b:9100"}`), 200, ok(`["a:9100"]`)},
		{"selectors are merged", "job", vals("match[]", "old_metric", "match[]", "up"), 200, ok(`["gateway","old"]`)},
		{"range inside the head", "__name__", with(recent, "match[]", `{job=~".+"}`), 200, ok(`["old_metric","up"]`)},
		{"range after the data", "__name__", with(future, "match[]", `{job=~".+"}`), 200, ok(`[]`)},
		{"unknown label", "nope", nil, 200, ok(`[]`)},
		{"UTF-8 name escaped", "U__http_2e_status", nil, 200, ok(`["200"]`)},
		{"UTF-8 name escaped with selector", "U__http_2e_status", vals("match[]", `{"utf8_metric"}`), 200, ok(`["200"]`)},
		// Sorted first, then limited: the head alone would keep the first
		// created (old_metric), and Prometheus 3.13 answers that.
		{"limit", "__name__", vals("limit", "1"), 200, `{"status":"success","data":["gateway_requests_total"],"warnings":["results truncated due to limit"]}`},
		{"invalid name", "%FF", nil, 400, `invalid label name: "\xff"`},
		{"empty matcher", "job", vals("match[]", `{job!="x"}`), 400, `match[] must contain at least one non-empty matcher`},
		{"bad limit", "job", vals("limit", "-5"), 400, `invalid parameter "limit": limit must be non-negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(t, "/api/v1/label/"+tc.label+"/values", tc.params)
			if tc.code == 200 {
				r.expect(t, 200, tc.want)
			} else {
				r.expectError(t, tc.code, "bad_data", tc.want)
			}
		})
	}
	if r := f.post(t, "/api/v1/label/job/values", nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST label values: status %d, want 405 as Prometheus", r.code)
	}
}

// TestAlertsSeriesSortFirst writes ALERTS after the scraped series, as the
// evaluator does, and expects it first in every limited listing, where
// Prometheus's sorted names put it.
func TestAlertsSeriesSortFirst(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"ALERTS", "ALERTS_FOR_STATE"} {
		addSamples(t, f.db, labels.FromStrings("__name__", name, "alertname", "HighErrors"), t0.Add(10*time.Minute), t0.Add(10*time.Minute), constant(1))
	}
	truncated := `],"warnings":["results truncated due to limit"]}`
	f.get(t, "/api/v1/label/__name__/values", vals("limit", "2")).
		expect(t, 200, `{"status":"success","data":["ALERTS","ALERTS_FOR_STATE"`+truncated)
	f.get(t, "/api/v1/series", vals("match[]", `{__name__!=""}`, "limit", "1")).
		expect(t, 200, `{"status":"success","data":[{"__name__":"ALERTS","alertname":"HighErrors"}`+truncated)
	f.get(t, "/api/v1/labels", vals("match[]", "ALERTS")).
		expect(t, 200, ok(`["__name__","alertname"]`))
}
