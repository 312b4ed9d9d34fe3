package gatewaysim

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const traceHeader = "timestamp,tenant_id,plugin_id,instance_id,cpu\n"

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseTrace(t *testing.T) {
	tr, err := ParseTrace("spike.csv", strings.NewReader(readTestdata(t, "spike.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Series) != 2 || tr.Step != 10*time.Second || tr.Length != 120*time.Second {
		t.Fatalf("%d series, step %v, length %v; want 2, 10s, 2m0s", len(tr.Series), tr.Step, tr.Length)
	}
	i1 := tr.Series[0]
	// Line 3: the comment and the header come first.
	if i1.InstanceID != "i1" || i1.Line != 3 || len(i1.Points) != 12 {
		t.Fatalf("first series %+v", i1)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
		ok   bool
	}{
		{-time.Second, 0, false}, {0, 0.42, true}, {9 * time.Second, 0.42, true},
		{20 * time.Second, 0.95, true}, {35 * time.Second, 0.96, true}, {50 * time.Second, 0.97, true}, {time.Hour, 0.45, true},
	} {
		if got, ok := i1.At(c.at); got != c.want || ok != c.ok {
			t.Errorf("At(%v) = %g, %v; want %g, %v", c.at, got, ok, c.want, c.ok)
		}
	}

	// Unix seconds and RFC 3339 read alike, rows in any order, columns in
	// any order; the smallest gap of one instance is the step.
	unsorted := "instance_id,cpu,timestamp,tenant_id,plugin_id\n" +
		"i1,0.5,2026-11-24T09:00:05Z,t1,t1-plugin1\n" +
		"i1,0.25,1795510800,t1,t1-plugin1\n" +
		"i2,1,1795510800.5,t1,t1-plugin1\n"
	tr, err = ParseTrace("trace", strings.NewReader(unsorted))
	if err != nil {
		t.Fatal(err)
	}
	want := []TracePoint{{0, 0.25}, {5 * time.Second, 0.5}}
	if got := tr.Series[0].Points; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("points %+v, want %+v", got, want)
	}
	if got := tr.Series[1].Points; len(got) != 1 || got[0] != (TracePoint{500 * time.Millisecond, 1}) {
		t.Errorf("i2 points %+v", got)
	}
	if tr.Step != 5*time.Second || tr.Length != 10*time.Second {
		t.Errorf("step %v, length %v; want 5s, 10s", tr.Step, tr.Length)
	}
}

func TestParseTraceErrors(t *testing.T) {
	row := func(cpu string) string { return "1795510800,t1,t1-plugin1,i1," + cpu + "\n" }
	for _, c := range []struct{ in, want string }{
		{"", "trace: empty trace"},
		{traceHeader, "trace: the trace has a header but no rows"},
		{"time,tenant,plugin,instance,cpu\n" + row("0.5"), `trace:1: unknown column "time"`},
		{"cpu,cpu,tenant_id,plugin_id,instance_id\n" + row("1"), `trace:1: column "cpu" twice`},
		{traceHeader + row("0.5") + row("1.2"), "trace:3: cpu must be a ratio within [0, 1], got 1.2"},
		{traceHeader + row("95"), "trace:2: cpu must be a ratio within [0, 1], got 95"},
		{traceHeader + row("-0.1"), "trace:2: cpu must be a ratio"},
		{traceHeader + row("NaN"), "trace:2: cpu must be a ratio"},
		{traceHeader + row("high"), `trace:2: cpu "high" is not a number`},
		// Comments and blank lines count: the line is the file's.
		{traceHeader + "# a comment\n\n" + row("0.5") + "yesterday,t1,t1-plugin1,i1,0.5\n", `trace:5: timestamp "yesterday" is neither Unix seconds nor RFC 3339`},
		{traceHeader + "1795510800,t1,,i1,0.5\n", "trace:2: plugin_id is empty"},
		{traceHeader + "1795510800,t1,t1-plugin1,i1\n", "trace:2: wrong number of fields"},
		{traceHeader + row("0.5") + row("0.6"), `trace:3: a second row for tenant_id="t1" plugin_id="t1-plugin1" instance_id="i1" at the time of line 2`},
	} {
		_, err := ParseTrace("trace", strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTrace(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}

// traceRequest is a POST /sim/scenario body replaying csv at speed.
func traceRequest(t *testing.T, csv string, speed float64) string {
	t.Helper()
	b, err := json.Marshal(ScenarioRequest{Name: "cpu-trace", Trace: csv, Params: map[string]float64{"speed": speed}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (h *harness) cpu(instance string) float64 {
	return h.scrape().sum("gateway_plugin_cpu_usage_ratio", "tenant_id", "t1", "plugin_id", "t1-plugin1", "instance_id", instance)
}

// TestCPUTrace replays testdata/spike.csv on the injected clock: each
// listed instance shows its row's value from the row's offset until the
// next, the others and, after the trace, the listed ones too show what a
// sim without the trace shows.
func TestCPUTrace(t *testing.T) {
	h, twin := newHarness(t, nil), newHarness(t, nil)
	h.step(3)
	twin.step(3)
	csv := readTestdata(t, "spike.csv")
	tr, err := ParseTrace("spike.csv", strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	sc := h.startScenario(traceRequest(t, csv, 1))
	if sc.Name != "cpu-trace" || sc.Params["speed"] != 1 || sc.Status["length_seconds"] != 120 || sc.Status["instances"] != 2 {
		t.Fatalf("started %+v", sc)
	}
	for s := 1; s < 120; s++ {
		h.step(1)
		twin.step(1)
		for _, ts := range tr.Series {
			want, _ := ts.At(time.Duration(s) * time.Second)
			if got := h.cpu(ts.InstanceID); got != want {
				t.Fatalf("%ds into the trace: %s at %g, want %g", s, ts.InstanceID, got, want)
			}
		}
		if got, want := h.scrape().sum("gateway_plugin_cpu_usage_ratio", "tenant_id", "t2"), twin.scrape().sum("gateway_plugin_cpu_usage_ratio", "tenant_id", "t2"); got != want {
			t.Fatalf("%ds into the trace: t2's instances at %g, without the trace %g", s, got, want)
		}
	}
	if st := h.sim.Scenarios()[0].Status; st["position_seconds"] != 119 {
		t.Errorf("status %v at 119 s", st)
	}
	// The last row holds for one step (10 s), then the scenario ends.
	h.step(1)
	twin.step(1)
	if n := len(h.sim.Scenarios()); n != 0 {
		t.Fatalf("%d scenarios after the trace's end", n)
	}
	for _, in := range []string{"i1", "i2"} {
		if got, want := h.cpu(in), twin.cpu(in); got != want {
			t.Errorf("%s at %g after the trace, want the sim's own %g", in, got, want)
		}
	}
}

// TestCPUTraceSpeedAndThrottle: at speed 10 a 10 s row lasts a second, a
// throttle scales the replayed value as it scales a cpu-spike's, and the
// trace wins over a cpu-spike on the same instance.
func TestCPUTraceSpeedAndThrottle(t *testing.T) {
	h := newHarness(t, nil)
	h.startScenario(`{"name":"cpu-spike","target":{` + t1p1i1 + `},"params":{"value":0.99}}`)
	h.startScenario(traceRequest(t, readTestdata(t, "spike.csv"), 10))
	h.step(1)
	if got := h.cpu("i1"); got != 0.44 {
		t.Fatalf("i1 at %g 10 trace seconds in, want 0.44", got)
	}
	h.step(2)
	if got := h.cpu("i1"); got != 0.96 {
		t.Fatalf("i1 at %g 30 trace seconds in, want 0.96", got)
	}
	h.patch(throttleBody("16", "300"), "k1", http.StatusOK)
	h.step(1)
	if got := h.cpu("i1"); got != 0.95*16/64 {
		t.Fatalf("throttled i1 at %g, want 0.95×16/64", got)
	}
	h.step(9)
	if n := len(h.sim.Scenarios()); n != 1 || h.sim.Scenarios()[0].Name != "cpu-spike" {
		t.Fatalf("scenarios after 120 trace seconds: %+v", h.sim.Scenarios())
	}
	if got := h.cpu("i1"); got < 0.98*16/64 {
		t.Errorf("i1 at %g after the trace, want the cpu-spike's 0.99 throttled", got)
	}
}

func TestCPUTraceRefused(t *testing.T) {
	h := newHarness(t, nil)
	row := "1795510800,t1,t1-plugin1,i1,0.5\n"
	inline := strings.ReplaceAll(traceHeader+row, "\n", `\n`)
	for _, c := range []struct{ body, want string }{
		{traceRequest(t, traceHeader+row+"1795510810,t1,t1-plugin1,i1,1.5\n", 1), "trace:3: cpu must be a ratio within [0, 1], got 1.5"},
		{traceRequest(t, traceHeader+row+"1795510800,t9,t9-plugin1,i1,0.5\n", 1), `trace:3: unknown instance tenant_id="t9" plugin_id="t9-plugin1" instance_id="i1": the simulation has tenants t1..t2`},
		{traceRequest(t, traceHeader+row, 0), "parameter speed must be within"},
		{`{"name":"cpu-trace"}`, "needs a trace"},
		{`{"name":"cpu-trace","target":{` + t1p1i1 + `},"trace":"` + inline + `"}`, "not a target"},
		{`{"name":"cpu-spike","target":{` + t1p1i1 + `},"trace":"` + inline + `"}`, "takes no trace"},
	} {
		var e errorBody
		h.doJSON("POST", "/sim/scenario", c.body, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, c.want) {
			t.Errorf("POST %s: error %q, want %q", c.body, e.Error, c.want)
		}
	}
	if n := len(h.sim.Scenarios()); n != 0 {
		t.Errorf("%d scenarios running after refusals", n)
	}

	// --scenario.trace names its file.
	opts := DefaultOptions()
	opts.Scenarios = []ScenarioRequest{{Name: "cpu-trace", Trace: traceHeader + "1795510800,t1,t1-plugin1,i1,2\n", TraceName: "cpu.csv"}}
	if _, err := New(opts, nil); err == nil || !strings.Contains(err.Error(), "cpu.csv:2: cpu must be a ratio") {
		t.Errorf("New with a bad trace file: %v", err)
	}
}
