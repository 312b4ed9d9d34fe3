package apidiff

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/promapi"
)

// request is one call made to both servers.
type request struct {
	name   string
	method string // GET, or POST with the parameters form-encoded
	path   string // below /api/v1
	params url.Values
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// instant and ranged add the times of an instant or a range query (the
// servers' clocks differ, so no request relies on the default "now").
func instant(q string, kv ...string) url.Values {
	return vals(append([]string{"query", q, "time", unix(queryAt)}, kv...)...)
}

func ranged(q string, kv ...string) url.Values {
	return vals(append([]string{"query", q, "start", unix(t0), "end", unix(t0.Add(span))}, kv...)...)
}

// window bounds series and label lookups to the data set.
func window(kv ...string) url.Values {
	return vals(append([]string{"start", unix(t0), "end", unix(t0.Add(span))}, kv...)...)
}

func requests() []request {
	get := func(name, path string, p url.Values) request { return request{name, http.MethodGet, path, p} }
	post := func(name, path string, p url.Values) request { return request{name, http.MethodPost, path, p} }
	return []request{
		get("query vector", "/query", instant(`http_requests_total`)),
		post("query vector POST", "/query", instant(`http_requests_total`)),
		get("query stale series", "/query", instant(`gone_total`)),
		get("query scalar", "/query", instant(`scalar(sum(temperature_celsius))`)),
		get("query string", "/query", instant(`"gatewarden"`)),
		get("query matrix", "/query", instant(`http_requests_total[1m]`)),
		get("query histogram quantile stats", "/query", instant(`histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[1m])))`, "stats", "all")),
		get("query limit", "/query", instant(`http_requests_total`, "limit", "1")),
		get("query bad PromQL", "/query", instant(`sum(`, "stats", "all")),
		post("query bad PromQL POST", "/query", instant(`http_requests_total{`)),
		get("query bad time", "/query", vals("query", "1", "time", "yesterday")),
		get("query_range", "/query_range", ranged(`rate(http_requests_total[1m])`, "step", "30")),
		post("query_range POST stats", "/query_range", ranged(`sum(gone_total)`, "step", "15s", "stats", "all")),
		get("query_range bad step", "/query_range", ranged(`up`, "step", "0")),
		get("query_range too many points", "/query_range", ranged(`up`, "step", "0.001")),
		get("series", "/series", window("match[]", `http_requests_total`, "match[]", `{__name__=~"request_duration.*"}`)),
		post("series POST limit", "/series", window("match[]", `http_requests_total`, "limit", "1")),
		get("series no match", "/series", window()),
		get("labels", "/labels", window()),
		post("labels match limit", "/labels", window("match[]", `request_duration_seconds_bucket`, "limit", "2")),
		get("label values", "/label/__name__/values", window()),
		get("label values limit", "/label/code/values", window("match[]", `http_requests_total`, "limit", "1")),
		get("label values unknown", "/label/nope/values", nil),
		get("format_query", "/format_query", vals("query", `sum by(code)(rate(http_requests_total{master="m1"}[5m]))`)),
		post("format_query bad", "/format_query", vals("query", `sum(`)),
		get("parse_query", "/parse_query", vals("query", `sum by (code) (rate(http_requests_total{master="m1"}[5m] offset 1m)) > 2`)),
		get("query_exemplars", "/query_exemplars", window("query", `http_requests_total`)),
		get("metadata", "/metadata", nil),
		get("targets", "/targets", nil),
		get("targets active", "/targets", vals("state", "active")),
		get("targets/metadata", "/targets/metadata", vals("metric", "http_requests_total")),
		get("scrape_pools", "/scrape_pools", nil),
		get("alertmanagers", "/alertmanagers", nil),
		get("rules", "/rules", nil),
		get("alerts", "/alerts", nil),
		get("status/buildinfo", "/status/buildinfo", nil),
		get("status/flags", "/status/flags", nil),
		get("status/runtimeinfo", "/status/runtimeinfo", nil),
		get("status/tsdb", "/status/tsdb", nil),
		get("status/tsdb limit", "/status/tsdb", vals("limit", "2")),
		get("status/walreplay", "/status/walreplay", nil),
	}
}

// answer is what a server said: the status code and the body's shape,
// with the top-level fields clients branch on.
type answer struct {
	code      int
	status    string
	errorType string
	shape     shape
	body      string
}

func call(t *testing.T, base string, r request) answer {
	t.Helper()
	u := base + "/api/v1" + r.path
	var (
		resp *http.Response
		err  error
	)
	if r.method == http.MethodPost {
		resp, err = http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(r.params.Encode()))
	} else {
		if len(r.params) > 0 {
			u += "?" + r.params.Encode()
		}
		resp, err = http.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, body: string(body)}
	if a.shape, err = shapeOf(body); err != nil {
		t.Fatal(err)
	}
	var top struct{ Status, ErrorType string }
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	a.status, a.errorType = top.Status, top.ErrorType
	return a
}

// TestAgainstPrometheus makes each request of requests() to gatewarden and
// to Prometheus's web/api/v1 over one TSDB, and requires the same status
// code, status and errorType, and the same key paths but for allowed.
func TestAgainstPrometheus(t *testing.T) {
	s := openStore(t)
	// One engine for both, so that what the engine decides (per-step
	// statistics, lookback, limits) cannot differ.
	engine := promapi.NewEngine(nil, nil, 0, 0)
	gw := serve(t, gatewardenAPI(s, engine))
	prom := serve(t, prometheusAPI(s, engine))
	used := map[allowance]bool{}
	for _, r := range requests() {
		t.Run(r.name, func(t *testing.T) {
			compare(t, r, call(t, gw, r), call(t, prom, r), used)
		})
	}
	for _, a := range allowed {
		if !used[a] {
			t.Errorf("allowed difference not seen (remove it): %+v", a)
		}
	}
}

func compare(t *testing.T, r request, gw, prom answer, used map[allowance]bool) {
	t.Helper()
	if gw.code != prom.code || gw.status != prom.status || gw.errorType != prom.errorType {
		t.Errorf("gatewarden answered %d %s %q, Prometheus %d %s %q\ngatewarden: %s\nPrometheus: %s",
			gw.code, gw.status, gw.errorType, prom.code, prom.status, prom.errorType, gw.body, prom.body)
	}
	for _, d := range []struct {
		side  string
		paths []string
	}{{sideGatewarden, gw.shape.minus(prom.shape)}, {sidePrometheus, prom.shape.minus(gw.shape)}} {
		for _, p := range d.paths {
			if a, ok := allowedFor(r, d.side, p); ok {
				used[a] = true
				continue
			}
			t.Errorf("only %s has %s\ngatewarden: %s\nPrometheus: %s", d.side, p, gw.body, prom.body)
		}
	}
}
