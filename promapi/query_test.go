package promapi

import (
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestQueryInstant(t *testing.T) {
	f := newFixture(t)
	at := unix(t0.Add(5 * time.Minute)) // 1767225900
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{{
		name:   "vector",
		params: vals("query", "up", "time", at),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"value":[1767225900,"1"]},` +
			`{"metric":{"__name__":"up","instance":"b:9100","job":"gateway"},"value":[1767225900,"0"]}]}}`,
	}, {
		name:   "vector with function and matcher",
		params: vals("query", `rate(gateway_requests_total{master="m1"}[1m])`, "time", at),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"code":"200","master":"m1"},"value":[1767225900,"0.6666666666666666"]}]}}`,
	}, {
		name:   "empty vector is a list",
		params: vals("query", "nope", "time", at),
		want:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
	}, {
		name:   "scalar",
		params: vals("query", "1+1", "time", at),
		want:   `{"status":"success","data":{"resultType":"scalar","result":[1767225900,"2"]}}`,
	}, {
		name:   "string",
		params: vals("query", `"hello"`, "time", at),
		want:   `{"status":"success","data":{"resultType":"string","result":[1767225900,"hello"]}}`,
	}, {
		name:   "default time is Now",
		params: vals("query", "time()"),
		want:   `{"status":"success","data":{"resultType":"scalar","result":[1767226200,"1767226200"]}}`,
	}, {
		name:   "float seconds rounded to milliseconds",
		params: vals("query", "time()", "time", "1767225900.1234"),
		want:   `{"status":"success","data":{"resultType":"scalar","result":[1767225900.123,"1767225900.123"]}}`,
	}, {
		// Prometheus pads milliseconds to three digits.
		name:   "RFC 3339 time",
		params: vals("query", "up{instance='a:9100'}", "time", "2026-01-01T00:05:00.5Z"),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"value":[1767225900.500,"1"]}]}}`,
	}, {
		name:   "limit truncates with a warning",
		params: vals("query", "up", "time", at, "limit", "1"),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"value":[1767225900,"1"]}]},` +
			`"warnings":["results truncated due to limit"]}`,
	}, {
		name:   "info annotation",
		params: vals("query", `rate(up[1m])`, "time", at),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"instance":"a:9100","job":"gateway"},"value":[1767225900,"0"]},` +
			`{"metric":{"instance":"b:9100","job":"gateway"},"value":[1767225900,"0"]}]},` +
			`"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]}`,
	}, {
		name:   "at modifier and negative offset",
		params: vals("query", `gateway_requests_total{master="m2"} @ 1767225600 offset -1m`, "time", at),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"gateway_requests_total","code":"500","master":"m2"},"value":[1767225900,"4"]}]}}`,
	}, {
		name:   "subquery without step",
		params: vals("query", `max_over_time(up[2m:])`, "time", at),
		want: `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"instance":"a:9100","job":"gateway"},"value":[1767225900,"1"]},` +
			`{"metric":{"instance":"b:9100","job":"gateway"},"value":[1767225900,"0"]}]}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f.get(t, "/api/v1/query", tc.params).expect(t, http.StatusOK, tc.want)
			f.post(t, "/api/v1/query", tc.params).expect(t, http.StatusOK, tc.want)
		})
	}
}

func TestQueryRange(t *testing.T) {
	f := newFixture(t)
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[` +
		`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"values":[[1767225600,"1"],[1767225660,"1"],[1767225720,"1"]]},` +
		`{"metric":{"__name__":"up","instance":"b:9100","job":"gateway"},"values":[[1767225600,"0"],[1767225660,"0"],[1767225720,"0"]]}]}}`
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{{
		name:   "float step",
		params: vals("query", "up", "start", unix(t0), "end", unix(t0.Add(2*time.Minute)), "step", "60"),
		want:   matrix,
	}, {
		name:   "duration step and RFC 3339 times",
		params: vals("query", "up", "start", "2026-01-01T00:00:00Z", "end", "2026-01-01T00:02:00Z", "step", "1m"),
		want:   matrix,
	}, {
		name:   "fractional step",
		params: vals("query", `up{instance="a:9100"}`, "start", unix(t0), "end", "1767225601", "step", "0.5"),
		want: `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"values":[[1767225600,"1"],[1767225600.500,"1"],[1767225601,"1"]]}]}}`,
	}, {
		name:   "scalar becomes a matrix",
		params: vals("query", "0.000000001", "start", unix(t0), "end", unix(t0.Add(time.Minute)), "step", "60"),
		want: `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{},"values":[[1767225600,"1e-09"],[1767225660,"1e-09"]]}]}}`,
	}, {
		name:   "no data is an empty list",
		params: vals("query", "nope", "start", unix(t0), "end", unix(t0.Add(time.Minute)), "step", "60"),
		want:   `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
	}, {
		name:   "limit",
		params: vals("query", "up", "start", unix(t0), "end", unix(t0.Add(2*time.Minute)), "step", "60", "limit", "1"),
		want: `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{"__name__":"up","instance":"a:9100","job":"gateway"},"values":[[1767225600,"1"],[1767225660,"1"],[1767225720,"1"]]}]},` +
			`"warnings":["results truncated due to limit"]}`,
	}, {
		name:   "exactly 11000 points is allowed",
		params: vals("query", "1", "start", "0", "end", "11000", "step", "1"),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []response{f.get(t, "/api/v1/query_range", tc.params), f.post(t, "/api/v1/query_range", tc.params)} {
				if tc.want == "" {
					if r.code != http.StatusOK {
						t.Errorf("status %d: %s", r.code, r.body)
					}
					continue
				}
				r.expect(t, http.StatusOK, tc.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	f := newFixture(t)
	_, parseErr := parser.NewParser(parser.Options{}).ParseExpr("up{")
	at := unix(t0.Add(5 * time.Minute))
	rng := func(kv ...string) url.Values {
		v := vals("query", "up", "start", unix(t0), "end", unix(t0.Add(time.Hour)), "step", "15s")
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name, path string
		params     url.Values
		code       int
		typ, msg   string
	}{
		{"bad query", "/api/v1/query", vals("query", "up{", "time", at), 400, "bad_data", `invalid parameter "query": ` + parseErr.Error()},
		{"empty query", "/api/v1/query", vals("time", at), 400, "bad_data", `invalid parameter "query": unknown position: parse error: no expression found in input`},
		{"bad time", "/api/v1/query", vals("query", "up", "time", "yesterday"), 400, "bad_data", `invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{"bad limit", "/api/v1/query", vals("query", "up", "limit", "-1"), 400, "bad_data", `invalid parameter "limit": limit must be non-negative`},
		{"bad timeout", "/api/v1/query", vals("query", "up", "timeout", "soon"), 400, "bad_data", `invalid parameter "timeout": cannot parse "soon" to a valid duration`},
		{"bad lookback", "/api/v1/query", vals("query", "up", "lookback_delta", "x"), 400, "bad_data", `error parsing lookback delta duration: cannot parse "x" to a valid duration`},
		{"execution error", "/api/v1/query", vals("query", `label_replace(up, "instance", "x", "", "")`, "time", at), 422, "execution", "vector cannot contain metrics with the same labelset"},
		{"timeout", "/api/v1/query", vals("query", "up", "time", at, "timeout", "0.000000001"), 503, "timeout", "query timed out in query execution"},
		{"range bad query", "/api/v1/query_range", rng("query", "up{"), 400, "bad_data", `invalid parameter "query": ` + parseErr.Error()},
		{"range missing start", "/api/v1/query_range", rng("start", ""), 400, "bad_data", `invalid parameter "start": cannot parse "" to a valid timestamp`},
		{"range bad end", "/api/v1/query_range", rng("end", "2026-13-01T00:00:00Z"), 400, "bad_data", `invalid parameter "end": cannot parse "2026-13-01T00:00:00Z" to a valid timestamp`},
		{"end before start", "/api/v1/query_range", rng("end", unix(t0.Add(-time.Second))), 400, "bad_data", `invalid parameter "end": end timestamp must not be before start time`},
		{"bad step", "/api/v1/query_range", rng("step", "often"), 400, "bad_data", `invalid parameter "step": cannot parse "often" to a valid duration`},
		{"zero step", "/api/v1/query_range", rng("step", "0"), 400, "bad_data", `invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`},
		{"too many points", "/api/v1/query_range", rng("end", unix(t0.Add(11001*15*time.Second))), 400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"},
		{"range timeout", "/api/v1/query_range", rng("timeout", "0.000000001"), 503, "timeout", "query timed out in query execution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.get(t, tc.path, tc.params).expectError(t, tc.code, tc.typ, tc.msg)
			f.post(t, tc.path, tc.params).expectError(t, tc.code, tc.typ, tc.msg)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest(http.MethodDelete, f.srv.URL+"/api/v1/query?query=up", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestQueryExemplars(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/api/v1/query_exemplars", vals("query", "up", "start", unix(t0), "end", unix(testNow))).
		expect(t, http.StatusOK, `{"status":"success","data":[]}`)
	f.post(t, "/api/v1/query_exemplars", vals("query", "up")).
		expect(t, http.StatusOK, `{"status":"success","data":[]}`)
	// A query without selectors has no exemplars to look for.
	f.get(t, "/api/v1/query_exemplars", vals("query", "1")).expect(t, http.StatusNoContent, "")
	f.get(t, "/api/v1/query_exemplars", vals("query", "up", "start", unix(testNow), "end", unix(t0))).
		expectError(t, 400, "bad_data", "end timestamp must not be before start timestamp")
	f.get(t, "/api/v1/query_exemplars", vals("query", "up", "start", "x")).
		expectError(t, 400, "bad_data", `invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp`)
}

func TestMultipartForm(t *testing.T) {
	f := newFixture(t)
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("query", "1+1")
	_ = mw.WriteField("time", "1767225900")
	_ = mw.Close()
	resp, err := http.Post(f.srv.URL+"/api/v1/query", mw.FormDataContentType(), strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	readResponse(t, resp).expect(t, http.StatusOK, `{"status":"success","data":{"resultType":"scalar","result":[1767225900,"2"]}}`)
}

// TestConcurrentRequests gives the race detector several requests in
// flight at once over one API, engine and buffer pool.
func TestConcurrentRequests(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				params := vals("query", "up", "start", unix(t0), "end", unix(t0.Add(time.Duration(i+j)*time.Minute)), "step", "15")
				resp, err := http.PostForm(f.srv.URL+"/api/v1/query_range", params)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
}
