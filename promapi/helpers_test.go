package promapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
)

// t0 is the first sample of the fixture; the injected clock stands ten
// minutes later.
var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testNow = t0.Add(10 * time.Minute)
)

const scrapeEvery = 15 * time.Second

type fixture struct {
	db  *tsdb.DB
	api *API
	srv *httptest.Server
}

// openDB opens a real TSDB in a temporary directory.
func openDB(tb testing.TB) *tsdb.DB {
	tb.Helper()
	db, err := tsdb.Open(tb.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// addSamples appends one sample every scrapeEvery in [from, to] with the
// value v(i) for the i-th sample.
func addSamples(tb testing.TB, db *tsdb.DB, ls labels.Labels, from, to time.Time, v func(i int) float64) {
	tb.Helper()
	app := db.Appender(context.Background())
	i := 0
	for ts := from; !ts.After(to); ts = ts.Add(scrapeEvery) {
		if _, err := app.Append(0, ls, ts.UnixMilli(), v(i)); err != nil {
			tb.Fatal(err)
		}
		i++
	}
	if err := app.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func constant(f float64) func(int) float64 { return func(int) float64 { return f } }

// newFixture fills a TSDB with:
//
//	up{instance="a:9100",job="gateway"}                1 from t0 to t0+10m
//	up{instance="b:9100",job="gateway"}                0 from t0 to t0+10m
//	gateway_requests_total{code="200",master="m1"}     0, 10, 20, ... from t0 to t0+10m
//	gateway_requests_total{code="500",master="m2"}     0, 1, 2, ... from t0 to t0+10m
//	utf8_metric{"http.status"="200"}                   1 from t0 to t0+10m
//	old_metric{job="old"}                              1 from t0-2h to t0-1h
func newFixture(t testing.TB, edit ...func(*Options)) *fixture {
	t.Helper()
	db := openDB(t)
	// The head refuses samples far older than its newest, so the old series goes first.
	addSamples(t, db, labels.FromStrings("__name__", "old_metric", "job", "old"), t0.Add(-2*time.Hour), t0.Add(-time.Hour), constant(1))
	end := t0.Add(10 * time.Minute)
	addSamples(t, db, labels.FromStrings("__name__", "up", "job", "gateway", "instance", "a:9100"), t0, end, constant(1))
	addSamples(t, db, labels.FromStrings("__name__", "up", "job", "gateway", "instance", "b:9100"), t0, end, constant(0))
	addSamples(t, db, labels.FromStrings("__name__", "gateway_requests_total", "master", "m1", "code", "200"), t0, end, func(i int) float64 { return float64(10 * i) })
	addSamples(t, db, labels.FromStrings("__name__", "gateway_requests_total", "master", "m2", "code", "500"), t0, end, func(i int) float64 { return float64(i) })
	addSamples(t, db, labels.FromStrings("__name__", "utf8_metric", "http.status", "200"), t0, end, constant(1))

	o := Options{
		Queryable: db,
		Now:       func() time.Time { return testNow },
		BuildInfo: map[string]string{"version": "1.2.3", "revision": "abc", "branch": "main", "buildUser": "ci@host", "buildDate": "20260101-00:00:00", "goVersion": "go1.26"},
	}
	for _, e := range edit {
		e(&o)
	}
	api := New(o)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{db: db, api: api, srv: srv}
}

type response struct {
	code int
	body string
}

func (f *fixture) get(t *testing.T, path string, params url.Values) response {
	t.Helper()
	u := f.srv.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

// post sends params form-encoded, as Grafana does.
func (f *fixture) post(t *testing.T, path string, params url.Values) response {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

func readResponse(t *testing.T, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// 204 and the mux's own 405 have no JSON body.
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusMethodNotAllowed {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		if !json.Valid(b) {
			t.Errorf("invalid JSON: %s", b)
		}
	}
	return response{code: resp.StatusCode, body: string(b)}
}

// expect checks status code and exact body.
func (r response) expect(t *testing.T, code int, body string) {
	t.Helper()
	if r.code != code {
		t.Errorf("status = %d, want %d (body %s)", r.code, code, r.body)
	}
	if r.body != body {
		t.Errorf("body mismatch\n got: %s\nwant: %s", r.body, body)
	}
}

// expectError checks an error envelope.
func (r response) expectError(t *testing.T, code int, typ, msg string) {
	t.Helper()
	want, _ := json.Marshal(map[string]string{"status": "error", "errorType": typ, "error": msg})
	// Field order is Prometheus's: status, errorType, error.
	var e struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	ordered, _ := json.Marshal(e)
	if r.code != code || string(ordered) != r.body || e.Status != "error" || e.ErrorType != typ || e.Error != msg {
		t.Errorf("got %d %s\nwant %d %s", r.code, r.body, code, want)
	}
}

func unix(t time.Time) string { return formatUnix(t.UnixMilli()) }

// formatUnix renders milliseconds as the API's float seconds.
func formatUnix(ms int64) string { return string(appendTimestamp(nil, ms)) }

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
