package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

const ctlToken = "ops-token"

// ctlRun runs gatewardenctl with a token file holding ctlToken and
// returns the exit code, stdout and stderr with runs of blanks folded, so
// tabwriter's padding does not matter to the checks.
func ctlRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, strings.Join(strings.Fields(out.String()), " "), errOut.String()
}

func writeTokenFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(ctlToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeProm answers /api/v1/query for range selectors over series held in
// memory, as gatewarden's Prometheus API does: the samples in
// (time-range, time].
type fakeProm struct {
	mu      sync.Mutex
	series  model.Matrix
	queries []string
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%q}`, msg)
	}
	if r.Header.Get("Authorization") != "Bearer "+ctlToken {
		fail(http.StatusUnauthorized, "unauthorized")
		return
	}
	if r.URL.Path != "/api/v1/query" || r.ParseForm() != nil {
		fail(http.StatusNotFound, "not found")
		return
	}
	q := r.Form.Get("query")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	ms, ok := expr.(*parser.MatrixSelector)
	if err != nil || !ok {
		fail(http.StatusBadRequest, fmt.Sprintf("want a range selector, got %q (%v)", q, err))
		return
	}
	secs, err := strconv.ParseFloat(r.Form.Get("time"), 64)
	if err != nil {
		fail(http.StatusBadRequest, "bad time")
		return
	}
	end := model.Time(math.Round(secs * 1000))
	start := end.Add(-ms.Range)
	out := model.Matrix{}
	for _, ss := range f.series {
		if !matches(ss.Metric, ms.VectorSelector.(*parser.VectorSelector)) {
			continue
		}
		sel := &model.SampleStream{Metric: ss.Metric}
		for _, p := range ss.Values {
			if p.Timestamp > start && p.Timestamp <= end {
				sel.Values = append(sel.Values, p)
			}
		}
		if len(sel.Values) > 0 {
			out = append(out, sel)
		}
	}
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": out}})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func matches(m model.Metric, vs *parser.VectorSelector) bool {
	for _, lm := range vs.LabelMatchers {
		if !lm.Matches(string(m[model.LabelName(lm.Name)])) {
			return false
		}
	}
	return true
}

// sent returns the queries answered since the last call.
func (f *fakeProm) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queries
	f.queries = nil
	return q
}

// traceStart is 2026-11-24T09:00:00Z.
var traceStart = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// cpuSeries is an instance scraped every 10 s from traceStart+offset,
// at 0.3, 0.31, ... .
func cpuSeries(job, tenant, plugin, instance string, offset time.Duration, n int) *model.SampleStream {
	ss := &model.SampleStream{Metric: model.Metric{"__name__": cpuMetric, "job": model.LabelValue(job),
		"tenant_id": model.LabelValue(tenant), "plugin_id": model.LabelValue(plugin), "instance_id": model.LabelValue(instance)}}
	for k := range n {
		at := traceStart.Add(offset + time.Duration(k)*10*time.Second)
		ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.TimeFromUnixNano(at.UnixNano()), Value: model.SampleValue(0.3 + float64(k)/100)})
	}
	return ss
}

// TestThrottleRecord records from a fake Prometheus API in windows
// shorter than the range, and replays what it wrote in gatewaysim.
func TestThrottleRecord(t *testing.T) {
	prom := &fakeProm{series: model.Matrix{
		cpuSeries("gateway", "t1", "t1-plugin1", "i2", 0, 12),
		cpuSeries("gateway", "t1", "t1-plugin1", "i1", 0, 12),
		cpuSeries("gateway", "t2", "t2-plugin1", "i1", 250*time.Millisecond, 12),
	}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	tok := writeTokenFile(t)
	record := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"throttle", "record", "--url", srv.URL, "--token-file", tok, "--window", "25s"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// 09:00:00 to 09:01:50 both included: twelve samples per instance, the
	// t2 one at 09:01:50.25 just outside.
	code, out, errOut := record("--from", "2026-11-24T09:00:00Z", "--to", strconv.FormatInt(traceStart.Add(110*time.Second).Unix(), 10))
	if code != 0 {
		t.Fatalf("record: exit %d: %s", code, errOut)
	}
	want := "timestamp,tenant_id,plugin_id,instance_id,cpu\n"
	for k := range 12 {
		at := traceStart.Add(time.Duration(k) * 10 * time.Second)
		v := strconv.FormatFloat(0.3+float64(k)/100, 'g', -1, 64)
		want += fmt.Sprintf("%s,t1,t1-plugin1,i1,%s\n%[1]s,t1,t1-plugin1,i2,%[2]s\n", at.Format(time.RFC3339), v)
		if k < 11 {
			want += fmt.Sprintf("%s,t2,t2-plugin1,i1,%s\n", at.Add(250*time.Millisecond).Format(time.RFC3339Nano), v)
		}
	}
	if out != want {
		t.Errorf("trace:\n%s\nwant:\n%s", out, want)
	}
	if q := prom.sent(); len(q) != 5 || q[0] != cpuMetric+"[25s]" || q[4] != cpuMetric+"[10s1ms]" {
		t.Errorf("queries %q, want four 25s windows and the 10s1ms left", q)
	}

	// Matchers narrow the selector; the trace replays in gatewaysim.
	code, out, errOut = record("--from", "1795510800", "--to", "1795510900", "--tenant_id", "t1", "--instance_id", "i1")
	if code != 0 {
		t.Fatalf("record --tenant_id: exit %d: %s", code, errOut)
	}
	if q, want := prom.sent(), cpuMetric+`{instance_id="i1", tenant_id="t1"}[25s]`; len(q) == 0 || q[0] != want {
		t.Errorf("queries %q, want the first %q", q, want)
	}
	sim, err := gatewaysim.New(gatewaysim.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-trace", Trace: out})
	if err != nil {
		t.Fatalf("replaying the recorded trace: %v\n%s", err, out)
	}
	if sc.Status["instances"] != 1 || sc.Status["length_seconds"] != 110 {
		t.Errorf("replay of %s: status %v, want 1 instance over 100 s + a 10 s step", out, sc.Status)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "1795510900", "--to", "1795510800"}, 1, "must be after --from"},
		{[]string{"--from", "2026-11-25T09:00:00Z", "--to", "2026-11-25T10:00:00Z"}, 1, "no samples of " + cpuMetric},
		{[]string{"--from", "yesterday"}, 1, `--from: "yesterday"`},
		{[]string{"--to", "1795510900"}, 2, "required flag(s) '--from' not provided"},
	} {
		if code, _, errOut := record(c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("record %v: exit %d %q, want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	var errOut2 bytes.Buffer
	if code := run([]string{"throttle", "record", "--url", srv.URL, "--from", "1795510800", "--to", "1795510900"}, new(bytes.Buffer), &errOut2); code != 1 || !strings.Contains(errOut2.String(), "401") {
		t.Errorf("record without the token: exit %d %q", code, errOut2.String())
	}

	// A second job scraping the same instance would interleave two
	// sources in one trace.
	prom.mu.Lock()
	prom.series = append(prom.series, cpuSeries("gateway-2", "t1", "t1-plugin1", "i1", 0, 12))
	prom.mu.Unlock()
	if code, _, errOut := record("--from", "1795510800", "--to", "1795510900"); code != 1 || !strings.Contains(errOut, "comes from two series") {
		t.Errorf("two series of one instance: exit %d %q", code, errOut)
	}
}

// fakeAutomation is the server side of the kill switch and reconcile as
// the admin API answers them, with the admin token required.
type fakeAutomation struct {
	mu        sync.Mutex
	state     automation
	bodies    []string
	reconcile string // the answer to POST /admin/throttles/reconcile
}

func (f *fakeAutomation) handler() http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /admin/throttles/automation", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		answer(w, http.StatusOK, f.state)
	})
	mux.HandleFunc("PUT /admin/throttles/automation", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var req struct {
			Enabled *bool  `json:"enabled"`
			Reason  string `json:"reason"`
			By      string `json:"by"`
		}
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		f.bodies = append(f.bodies, b.String())
		if err := json.Unmarshal(b.Bytes(), &req); err != nil || req.Enabled == nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": "enabled is required"})
			return
		}
		if !*req.Enabled && strings.TrimSpace(req.Reason) == "" {
			answer(w, http.StatusBadRequest, map[string]string{"error": "a reason is required to disable the automation"})
			return
		}
		released := 0
		if !*req.Enabled && f.state.Enabled {
			released = 3
		}
		f.state = automation{Enabled: *req.Enabled, Reason: req.Reason, ChangedBy: "user:" + req.By,
			ChangedAt: float64(time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC).Unix()), Released: released}
		answer(w, http.StatusOK, f.state)
	})
	mux.HandleFunc("POST /admin/throttles/reconcile", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, f.reconcile)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ctlToken {
			answer(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func TestThrottleAutomation(t *testing.T) {
	fake := &fakeAutomation{state: automation{Enabled: true}}
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()
	tok := writeTokenFile(t)
	ctl := func(args ...string) (int, string, string) {
		return ctlRun(t, append([]string{"throttle", "--url", srv.URL, "--token-file", tok}, args...)...)
	}
	steps := []struct {
		args []string
		code int
		out  string // in the output, blanks folded
		err  string
	}{
		{[]string{"status"}, 0, "automation: enabled reason: - changed_by: - changed_at: never", ""},
		{[]string{"disable", "--reason", "gateway migration", "--by", "alice"}, 0, "automation: disabled reason: gateway migration changed_by: user:alice changed_at: 2026-12-07T19:00:00Z released: 3 throttles", ""},
		{[]string{"status"}, 0, "automation: disabled reason: gateway migration changed_by: user:alice changed_at: 2026-12-07T19:00:00Z", ""},
		{[]string{"disable"}, 2, "", "required flag(s) '--reason' not provided"},
		{[]string{"disable", "--reason", " "}, 1, "", "error: 400 Bad Request: a reason is required to disable the automation"},
		{[]string{"enable", "--by", "bob"}, 0, "automation: enabled reason: - changed_by: user:bob changed_at: 2026-12-07T19:00:00Z released: 0 throttles", ""},
	}
	for _, s := range steps {
		code, out, errOut := ctl(s.args...)
		if code != s.code || !strings.Contains(out, s.out) || !strings.Contains(errOut, s.err) {
			t.Errorf("throttle %v: exit %d, %q, %q; want %d, %q, %q", s.args, code, out, errOut, s.code, s.out, s.err)
		}
	}
	fake.mu.Lock()
	bodies := fake.bodies
	fake.mu.Unlock()
	if want := `{"by":"alice","enabled":false,"reason":"gateway migration"}`; len(bodies) == 0 || bodies[0] != want {
		t.Errorf("PUT bodies %q, want the first %s", bodies, want)
	}
	code, _, errOut := ctlRun(t, "throttle", "--url", srv.URL, "status")
	if code != 1 || !strings.Contains(errOut, "401 Unauthorized: missing or invalid token") {
		t.Errorf("status without the token: exit %d %q", code, errOut)
	}
}

func TestThrottleReconcile(t *testing.T) {
	fake := &fakeAutomation{}
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()
	tok := writeTokenFile(t)
	for _, c := range []struct {
		answer string
		code   int
		out    string
		err    string
	}{
		{`{"supported":true,"differences":[
			{"kind":"orphan","tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"i1","action":"adopted","detail":"max_concurrency 16 at the gateway, apply failed in the audit"},
			{"kind":"lost","tenant_id":"t2","plugin_id":"t2-plugin1","instance_id":"i2","action":"reapplied","detail":"anomaly persists"}]}`,
			0, "KIND TENANT PLUGIN INSTANCE ACTION DETAIL orphan t1 t1-plugin1 i1 adopted max_concurrency 16 at the gateway, apply failed in the audit lost t2 t2-plugin1 i2 reapplied anomaly persists", ""},
		{`{"supported":true,"differences":[]}`, 0, "in agreement", ""},
		{`{"supported":false}`, 1, "", "reconcile cannot run"},
	} {
		fake.mu.Lock()
		fake.reconcile = c.answer
		fake.mu.Unlock()
		code, out, errOut := ctlRun(t, "throttle", "--url", srv.URL, "--token-file", tok, "reconcile")
		if code != c.code || out != c.out || !strings.Contains(errOut, c.err) {
			t.Errorf("reconcile answered %s: exit %d, %q, %q; want %d, %q, %q", c.answer, code, out, errOut, c.code, c.out, c.err)
		}
	}
}
