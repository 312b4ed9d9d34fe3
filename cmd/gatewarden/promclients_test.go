package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// promDaemon runs gatewarden scraping a target with HELP and TYPE lines, a
// classic histogram that grows every scrape, and one rule that fires at
// once, so ALERTS and ALERTS_FOR_STATE exist.
func promDaemon(t *testing.T) *daemon {
	t.Helper()
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprint(w, "# HELP gateway_requests_total Requests served.\n# TYPE gateway_requests_total counter\n"+
			"gateway_requests_total{master=\"m1\"} 42\ngateway_requests_total{master=\"m2\"} 7\n"+
			"# HELP gateway_request_duration_seconds Upstream request latency.\n# TYPE gateway_request_duration_seconds histogram\n")
		for _, b := range []struct {
			le  string
			per int64
		}{{"1", 1}, {"10", 3}, {"+Inf", 4}} {
			fmt.Fprintf(w, "gateway_request_duration_seconds_bucket{le=%q} %d\n", b.le, b.per*n)
		}
		fmt.Fprintf(w, "gateway_request_duration_seconds_count %d\ngateway_request_duration_seconds_sum %d\n", 4*n, 9*n)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up == 1\n")
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n"+
		jobConfig("gateway", strings.TrimPrefix(srv.URL, "http://")))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	d.eventually("the alert written as ALERTS", func() bool { return d.scalar(`count(ALERTS_FOR_STATE) + count(ALERTS)`) == 2 })
	return d
}

// TestPromtool drives the real promtool of the pinned Prometheus release
// through query instant, range, series, labels and analyze against the
// daemon.
func TestPromtool(t *testing.T) {
	t.Parallel()
	bin, err := promtoolBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := promDaemon(t)
	d.eventually("three scrapes of the histogram", func() bool { return d.scalar(`gateway_request_duration_seconds_count`) >= 12 })
	promtool := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	now := time.Now()
	if out := promtool("query", "instant", d.url, "sum(gateway_requests_total)"); !strings.Contains(out, "=> 49 @[") {
		t.Errorf("query instant:\n%s", out)
	}
	out := promtool("query", "range", "--start="+now.Add(-time.Minute).Format(time.RFC3339), "--end="+now.Format(time.RFC3339),
		"--step=1s", d.url, "up")
	if !strings.Contains(out, `up{instance=`) || !strings.Contains(out, "1 @[") {
		t.Errorf("query range:\n%s", out)
	}
	if out := promtool("query", "series", `--match={__name__=~"ALERTS.*"}`, d.url); !strings.Contains(out, `__name__="ALERTS"`) ||
		!strings.Contains(out, `__name__="ALERTS_FOR_STATE"`) {
		t.Errorf("query series:\n%s", out)
	}
	if lines := strings.Fields(promtool("query", "labels", d.url, "__name__")); len(lines) < 3 || lines[0] != "ALERTS" || lines[1] != "ALERTS_FOR_STATE" {
		t.Errorf("query labels __name__: %q, want ALERTS and ALERTS_FOR_STATE first", lines)
	}
	out = promtool("query", "analyze", "--server="+d.url, "--type=histogram", "--duration=1m",
		"--match=gateway_request_duration_seconds_bucket")
	if !strings.Contains(out, "gateway_request_duration_seconds_bucket") || !strings.Contains(out, "(classic)") {
		t.Errorf("query analyze:\n%s", out)
	}
	d.stop()
}

// TestAPIShapesMatchPrometheusTypes compares every answer key by key with
// what client_golang's types for the same endpoint hold (decoded, then
// encoded again), values aside and case aside (client_golang spells some
// keys its own way, activeAlertManagers, and decodes case-insensitively).
// A key the types have and gatewarden's answer lacks fails; keys only in
// the answer are logged: Prometheus's answers carry fields the client does
// not decode too (scrapeInterval, hostname, keepFiringFor), and gatewarden
// adds its rule extensions and buildinfo's application.
func TestAPIShapesMatchPrometheusTypes(t *testing.T) {
	t.Parallel()
	d := promDaemon(t)
	d.eventually("metadata scraped", func() bool {
		md, err := d.api.Metadata(context.Background(), "gateway_requests_total", "")
		return err == nil && len(md["gateway_requests_total"]) == 1
	})
	for path, typ := range map[string]any{
		"/api/v1/status/buildinfo":   &promv1.BuildinfoResult{},
		"/api/v1/status/runtimeinfo": &promv1.RuntimeinfoResult{},
		"/api/v1/status/config":      &promv1.ConfigResult{},
		"/api/v1/status/flags":       &promv1.FlagsResult{},
		"/api/v1/status/tsdb":        &promv1.TSDBResult{},
		"/api/v1/status/walreplay":   &promv1.WalReplayStatus{},
		"/api/v1/alertmanagers":      &promv1.AlertManagersResult{},
		"/api/v1/targets":            &promv1.TargetsResult{},
		"/api/v1/targets/metadata":   &[]promv1.MetricMetadata{},
		"/api/v1/metadata":           &map[string][]promv1.Metadata{},
		"/api/v1/rules":              &promv1.RulesResult{},
		"/api/v1/alerts":             &promv1.AlertsResult{},
	} {
		t.Run(path, func(t *testing.T) {
			raw := d.data(path)
			if err := json.Unmarshal(raw, typ); err != nil {
				t.Fatalf("decoding into %T: %v", typ, err)
			}
			again, _ := json.Marshal(typ)
			got, want := keyPaths(raw), keyPaths(again)
			if missing := diff(want, got); len(missing) > 0 {
				t.Errorf("keys of Prometheus's type missing from gatewarden's answer: %v\n%s", missing, raw)
			}
			if extra := diff(got, want); len(extra) > 0 {
				t.Logf("keys only in gatewarden's answer (client_golang does not decode them): %v", extra)
			}
		})
	}
	d.stop()
}

// data fetches an endpoint and returns its "data", checking the envelope.
func (d *daemon) data(path string) json.RawMessage {
	d.t.Helper()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	d.getJSON(path, &env)
	if env.Status != "success" {
		d.t.Fatalf("%s: status %q", path, env.Status)
	}
	return env.Data
}

// keyPaths lists the object keys in v as dotted paths, arrays as [] and
// map-like objects (label sets, metadata by metric) collapsed to their
// first level, so only the shape is compared.
func keyPaths(b []byte) []string {
	var v any
	_ = json.Unmarshal(b, &v)
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if isFreeForm(prefix) {
					walk(prefix+"{}", c)
					continue
				}
				p := strings.ToLower(strings.TrimPrefix(prefix+"."+k, "."))
				seen[p] = true
				walk(p, c)
			}
		case []any:
			for _, c := range x {
				walk(prefix+"[]", c)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isFreeForm says whether an object's keys are data (label names) rather
// than field names; prefixes are lower case.
func isFreeForm(prefix string) bool {
	for _, s := range []string{"labels", "annotations", "target"} {
		if strings.HasSuffix(prefix, s) {
			return true
		}
	}
	return false
}

func diff(a, b []string) []string {
	var out []string
	for _, k := range a {
		if !slices.Contains(b, k) {
			out = append(out, k)
		}
	}
	return out
}

// grafanaRequest is one request Grafana 12's Prometheus data source sends
// (docs: /work/notes research, section 1), with its parameters in order.
type grafanaRequest struct {
	method, path, params string
	shape                string // the JSON type of "data": array, object, or a resultType
}

// TestGrafanaRequests replays what Grafana 12's Prometheus data source
// sends on Save & test, editor load, metric browser, variables and
// panels, by GET and by form POST where Grafana may POST.
func TestGrafanaRequests(t *testing.T) {
	t.Parallel()
	d := promDaemon(t)
	now := time.Now().Unix()
	start, end := (now-3600)/60*60, (now/60+1)*60 // snapped to the minute, as the default cache level does
	rng := fmt.Sprintf("start=%d&end=%d", start, end)
	reqs := []grafanaRequest{
		{"POST", "/api/v1/query", "query=1%2B1&time=4", "scalar"},
		{"GET", "/api/v1/status/buildinfo", "", "object"},
		{"POST", "/api/v1/query_range", fmt.Sprintf("query=up&start=%d&end=%d&step=15&timeout=60s", start, end), "matrix"},
		{"POST", "/api/v1/query", fmt.Sprintf("query=sum(gateway_requests_total)&time=%d.5", now), "vector"},
		{"POST", "/api/v1/query_exemplars", "query=gateway_requests_total&" + rng, "array"},
		{"GET", "/api/v1/label/__name__/values", "limit=40000&" + rng, "array"},
		{"POST", "/api/v1/labels", "limit=40000&" + rng, "array"},
		{"GET", "/api/v1/label/master/values", "limit=40000&" + rng + "&match%5B%5D=" + url.QueryEscape(`gateway_requests_total`), "array"},
		{"GET", "/api/v1/label/__name__/values", "limit=1000&" + rng + "&match%5B%5D=" + url.QueryEscape(`{__name__=~".*gateway.*"}`), "array"},
		{"POST", "/api/v1/series", rng + "&match%5B%5D=" + url.QueryEscape(`{__name__!=""}`) + "&limit=40000", "array"},
		{"GET", "/api/v1/metadata", "limit=40000", "object"},
		{"GET", "/api/v1/rules", "", "object"},
		{"GET", "/api/v1/rules", "rule_group=g&exclude_alerts=true", "object"},
		{"GET", "/api/v1/alerts", "", "object"},
		{"POST", "/api/v1/query_exemplars", fmt.Sprintf("query=test&start=%d000&end=%d000", start, end), "array"},
		{"GET", "/api/v1/query", fmt.Sprintf("query=up&time=%d", now), "vector"},
		{"GET", "/api/v1/series", "match%5B%5D=up&" + rng, "array"},
		{"GET", "/api/v1/status/flags", "", "object"},
		{"GET", "/api/v1/format_query", "query=sum(up)by(job)", "string"},
	}
	for _, r := range reqs {
		for _, method := range methodsFor(r) {
			t.Run(method+" "+r.path+"?"+r.params, func(t *testing.T) {
				checkShape(t, d.sendForm(method, r.path, r.params), r.shape)
			})
		}
	}
	d.stop()
}

// methodsFor: Grafana sends what it may POST by GET too, when the data
// source is set to GET.
func methodsFor(r grafanaRequest) []string {
	if r.method == "POST" {
		return []string{"POST", "GET"}
	}
	return []string{"GET"}
}

// sendForm sends params as Grafana does: a form body for POST, the query
// string for GET; the answer must be 200.
func (d *daemon) sendForm(method, path, params string) []byte {
	d.t.Helper()
	var req *http.Request
	if method == "POST" {
		req, _ = http.NewRequest(method, d.url+path, strings.NewReader(params))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, d.url+path+"?"+params, nil)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}

func checkShape(t *testing.T, body []byte, shape string) {
	t.Helper()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		t.Fatalf("envelope: %v %s", err, body)
	}
	var data any
	_ = json.Unmarshal(env.Data, &data)
	switch shape {
	case "array":
		_, ok := data.([]any)
		check(t, ok, body)
	case "object":
		_, ok := data.(map[string]any)
		check(t, ok, body)
	case "string":
		_, ok := data.(string)
		check(t, ok, body)
	default:
		m, _ := data.(map[string]any)
		check(t, m["resultType"] == shape && m["result"] != nil, body)
	}
}

func check(t *testing.T, ok bool, body []byte) {
	t.Helper()
	if !ok {
		t.Errorf("unexpected shape: %s", body)
	}
}
