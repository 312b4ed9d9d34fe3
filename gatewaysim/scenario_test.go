package gatewaysim

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const t1p1i1 = `"tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"i1"`

func TestCPUSpike(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	if cpu := h.scrape().sum("gateway_plugin_cpu_usage_ratio", "plugin_id", "t1-plugin1", "instance_id", "i1"); cpu > 0.85 {
		t.Fatalf("cpu %g before the spike", cpu)
	}
	h.startScenario(`{"name":"cpu-spike","target":{` + t1p1i1 + `}}`)
	for range 30 {
		h.step(1)
		got := h.scrape()
		if cpu := got.sum("gateway_plugin_cpu_usage_ratio", "plugin_id", "t1-plugin1", "instance_id", "i1"); cpu <= 0.9 {
			t.Fatalf("spiked cpu %g, want > 0.9", cpu)
		}
		if cpu := got.sum("gateway_plugin_cpu_usage_ratio", "plugin_id", "t1-plugin1", "instance_id", "i2"); cpu > 0.85 {
			t.Fatalf("untargeted instance cpu %g", cpu)
		}
	}
	h.startScenario(`{"name":"cpu-spike","target":{` + t1p1i1 + `},"params":{"value":0.99}}`)
	h.step(1)
	if n := len(h.sim.Scenarios()); n != 1 {
		t.Errorf("%d scenarios after restarting one with new params, want 1", n)
	}
	if cpu := h.scrape().sum("gateway_plugin_cpu_usage_ratio", "plugin_id", "t1-plugin1", "instance_id", "i1"); cpu < 0.97 {
		t.Errorf("cpu %g with value 0.99", cpu)
	}
}

// TestBudgetRamp follows spend/budget step by step: every level is crossed,
// and one step crosses two at once.
func TestBudgetRamp(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	sc := h.startScenario(`{"name":"budget-ramp","target":{"master":"m1"},"params":{"duration":240}}`)
	if sc.Params["duration"] != 240 || sc.Target.Master != "m1" {
		t.Fatalf("scenario state %+v", sc)
	}
	levels := []float64{0.5, 0.75, 0.9, 1.0}
	crossed := map[float64]int{}
	maxAtOnce := 0
	prev := 0.0
	for range 250 {
		h.step(1)
		got := h.scrape()
		ratio := got.sum("gateway_spend_usd_total", "master", "m1") / got.sum("gateway_master_budget_usd", "master", "m1")
		n := 0
		for _, l := range levels {
			if prev < l && ratio >= l {
				crossed[l]++
				n++
			}
		}
		maxAtOnce = max(maxAtOnce, n)
		prev = ratio
	}
	for _, l := range levels {
		if crossed[l] != 1 {
			t.Errorf("level %g crossed %d times", l, crossed[l])
		}
	}
	if maxAtOnce < 2 {
		t.Errorf("no step crossed two levels at once")
	}
	if prev < 1.05 || prev > 1.1 {
		t.Errorf("spend ends at %g of the budget, want just past 1.05", prev)
	}
	if ratio := h.scrape().sum("gateway_spend_usd_total", "master", "m2") / h.scrape().sum("gateway_master_budget_usd", "master", "m2"); ratio > 0.1 {
		t.Errorf("m2 spent %g of its budget without a scenario", ratio)
	}
	st := h.sim.Scenarios()[0].Status
	if st["step"] != 3 || st["budget_ratio"] < 1.05 {
		t.Errorf("status %v, want the last step", st)
	}
}

// increase steps n ticks and returns how much the metric grew.
func (h *harness) increase(n int, name string, match ...string) float64 {
	before := h.scrape().sum(name, match...)
	h.step(n)
	return h.scrape().sum(name, match...) - before
}

func TestErrorBurst(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	h.startScenario(`{"name":"error-burst","target":{"master":"m1"}}`)
	h.step(5)
	before := h.scrape()
	h.step(300)
	after := h.scrape()
	share := func(master string) float64 {
		inc := func(code string) float64 {
			return after.sum("gateway_requests_total", "master", master, "code", code) -
				before.sum("gateway_requests_total", "master", master, "code", code)
		}
		total := 0.0
		for _, c := range codes {
			total += inc(c)
		}
		return (inc("500") + inc("503")) / total
	}
	if s := share("m1"); s < 0.28 || s > 0.32 {
		t.Errorf("m1 5xx share %g, want 0.3", s)
	}
	if s := share("m2"); s > 0.03 {
		t.Errorf("m2 5xx share %g without a scenario", s)
	}
}

func TestLatencySpike(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	p95 := func(match ...string) float64 {
		before := h.scrape()
		h.step(300)
		return quantile(0.95, before, h.scrape(), "gateway_request_duration_seconds", match...)
	}
	if q := p95("master", "m1"); q > 10 {
		t.Fatalf("m1 p95 %g s before the spike", q)
	}
	h.startScenario(`{"name":"latency-spike","target":{"master":"m1","provider":"openai"}}`)
	if q := p95("master", "m1", "provider", "openai"); q < 15 || q > 30 {
		t.Errorf("m1 openai p95 %g s, want about 20", q)
	}
	if q := p95("master", "m1", "provider", "anthropic"); q > 10 {
		t.Errorf("m1 anthropic p95 %g s, untargeted", q)
	}
	if q := p95("master", "m2"); q > 10 {
		t.Errorf("m2 p95 %g s, untargeted", q)
	}
}

func TestQuotaApproach(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	h.startScenario(`{"name":"quota-approach","target":{"master":"m1"}}`)
	h.step(60)
	limits := h.scrape()
	for minute := range 5 {
		before := h.scrape()
		h.step(60)
		after := h.scrape()
		rpm := after.sum("gateway_requests_total", "master", "m1") - before.sum("gateway_requests_total", "master", "m1")
		tpm := after.sum("gateway_tokens_total", "master", "m1") - before.sum("gateway_tokens_total", "master", "m1")
		r := rpm / limits.sum("gateway_master_limit_rpm", "master", "m1")
		tk := tpm / limits.sum("gateway_master_limit_tpm", "master", "m1")
		if r < 0.85 || r > 0.97 || tk < 0.85 || tk > 0.97 {
			t.Errorf("minute %d: rpm at %.3f and tpm at %.3f of their limits, want 0.85–0.97", minute, r, tk)
		}
	}
	rpm := h.increase(60, "gateway_requests_total", "master", "m2")
	if r := rpm / limits.sum("gateway_master_limit_rpm", "master", "m2"); r > 0.6 {
		t.Errorf("m2 at %.2f of its rpm limit without a scenario", r)
	}
}

// TestTrafficSpike runs two sims with one seed: the traffic streams stay
// aligned, so the spiked master's requests are exactly factor times more,
// give or take rounding.
func TestTrafficSpike(t *testing.T) {
	for _, target := range []string{`{"master":"m1"}`, `{}`} {
		plain, spiked := newHarness(t, nil), newHarness(t, nil)
		spiked.startScenario(`{"name":"traffic-spike","target":` + target + `,"params":{"factor":3}}`)
		plain.step(5)
		spiked.step(5)
		for _, m := range []string{"m1", "m2"} {
			want := 1.0
			if m == "m1" || target == `{}` {
				want = 3
			}
			got := spiked.increase(300, "gateway_requests_total", "master", m) / plain.increase(300, "gateway_requests_total", "master", m)
			if got < want*0.97 || got > want*1.03 {
				t.Errorf("target %s: %s requests ×%.3f, want ×%g", target, m, got, want)
			}
		}
	}
}

func TestOutageOfAMaster(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	sc := h.startScenario(`{"name":"outage","target":{"master":"m1"}}`)
	h.step(5)
	got := h.scrape()
	for _, s := range got {
		if s.lset.Get("master") == "m1" {
			t.Fatalf("%s exposed during m1's outage", s.lset)
		}
	}
	if got.count("gateway_requests_total", "master", "m2") == 0 || got.count("gateway_plugin_cpu_usage_ratio") == 0 {
		t.Fatal("other series went missing with m1")
	}
	h.doJSON("DELETE", "/sim/scenario/"+itoa(sc.ID), "", http.StatusOK, nil)
	h.step(5)
	got = h.scrape()
	if n, want := len(got), h.sim.opts.SeriesCount(); n != want {
		t.Errorf("%d series after the outage, want %d", n, want)
	}
	if got.sum("gateway_requests_total", "master", "m1") == 0 || got.sum("gateway_master_budget_usd", "master", "m1") == 0 {
		t.Error("m1's series came back empty")
	}
}

func TestOutageOfTheEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	h.startScenario(`{"name":"outage"}`)
	if rec := h.do("GET", "/metrics", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET /metrics during an outage: %d", rec.Code)
	}
	h.doJSON("GET", "/internal/gateway/throttle", "", http.StatusOK, nil)
	h.doJSON("DELETE", "/sim/scenario", "", http.StatusOK, nil)
	h.scrape()
}

// TestOutageHangs checks a scraper's timeout fires while /metrics hangs, and
// that a hung scrape completes once the outage ends.
func TestOutageHangs(t *testing.T) {
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.sim.Handler())
	defer srv.Close()
	h.startScenario(`{"name":"outage","params":{"hang":1}}`)

	client := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := client.Get(srv.URL + "/metrics")
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("scrape during a hanging outage: %v, want a timeout", err)
	}

	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	req, _ := http.NewRequestWithContext(context.Background(), "DELETE", srv.URL+"/sim/scenario", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := <-done; code != http.StatusOK {
		t.Errorf("hung scrape answered %d after the outage ended", code)
	}
}

func TestScenarioAPI(t *testing.T) {
	h := newHarness(t, nil)
	for body, reason := range map[string]string{
		`{"name":`:          "malformed JSON",
		``:                  "empty",
		`{"name":"meteor"}`: "unknown scenario",
		`{"name":"error-burst","target":{"master":"m9"}}`:                                     "unknown master",
		`{"name":"cpu-spike","target":{"tenant_id":"t9","plugin_id":"x","instance_id":"i1"}}`: "unknown instance",
		`{"name":"cpu-spike","target":{"master":"m1"}}`:                                       "not masters",
		`{"name":"error-burst","target":{` + t1p1i1 + `}}`:                                    "not plugin instances",
		`{"name":"error-burst","target":{"provider":"openai"}}`:                               "no provider",
		`{"name":"latency-spike","target":{"provider":"bedrock"}}`:                            "unknown provider",
		`{"name":"error-burst","params":{"ratoi":0.5}}`:                                       "no parameter",
		`{"name":"error-burst","params":{"ratio":1.5}}`:                                       "within",
		`{"name":"outage","target":{"master":"m1"},"params":{"hang":1}}`:                      "hang",
		`{"name":"outage","params":{"hang":0.5}}`:                                             "hang",
		`{"name":"error-burst","colour":"red"}`:                                               "unknown field",
	} {
		var e errorBody
		h.doJSON("POST", "/sim/scenario", body, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, reason) {
			t.Errorf("POST %s: error %q, want it to mention %q", body, e.Error, reason)
		}
	}
	var e errorBody
	h.doJSON("POST", "/sim/scenario", `{"name":"`+strings.Repeat("x", maxScenarioBytes)+`"}`, http.StatusRequestEntityTooLarge, &e)

	a := h.startScenario(`{"name":"traffic-spike"}`)
	b := h.startScenario(`{"name":"error-burst","target":{"master":"m2"},"params":{"ratio":0.5}}`)
	if a.ID == b.ID || b.Params["ratio"] != 0.5 || a.Params["factor"] != 3 {
		t.Fatalf("started %+v and %+v", a, b)
	}
	var list struct{ Scenarios []Scenario }
	h.doJSON("GET", "/sim/scenario", "", http.StatusOK, &list)
	if len(list.Scenarios) != 2 {
		t.Fatalf("listed %+v", list)
	}
	h.doJSON("DELETE", "/sim/scenario/"+itoa(a.ID), "", http.StatusOK, &list)
	if len(list.Scenarios) != 1 || list.Scenarios[0].ID != b.ID {
		t.Fatalf("after deleting %d: %+v", a.ID, list)
	}
	h.doJSON("DELETE", "/sim/scenario/"+itoa(a.ID), "", http.StatusNotFound, nil)
	h.doJSON("DELETE", "/sim/scenario/x", "", http.StatusBadRequest, nil)
	h.doJSON("POST", "/sim/scenario", `{"name":"reset"}`, http.StatusOK, &list)
	if len(list.Scenarios) != 0 {
		t.Fatalf("after reset: %+v", list)
	}
	if got := h.scrape().sum("gatewaysim_active_scenarios"); got != 0 {
		t.Errorf("gatewaysim_active_scenarios = %g after reset", got)
	}
}

func TestScenariosFromOptions(t *testing.T) {
	var reqs []ScenarioRequest
	for _, v := range []string{"traffic-spike", `{"name":"cpu-spike","target":{` + t1p1i1 + `},"params":{"value":0.97}}`} {
		req, err := ParseScenarioFlag(v)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	if _, err := ParseScenarioFlag(`{"name":"cpu-spike","targt":{}}`); err == nil {
		t.Error("ParseScenarioFlag accepted a misspelt field")
	}
	h := newHarness(t, func(o *Options) { o.Scenarios = reqs })
	got := h.sim.Scenarios()
	if len(got) != 2 || got[1].Params["value"] != 0.97 || got[1].Target.InstanceID != "i1" {
		t.Fatalf("scenarios from options: %+v", got)
	}
}

// TestScenarioEffectiveAt: a scenario takes effect at the next step, and
// that step's time is what a detection benchmark starts its clock from.
func TestScenarioEffectiveAt(t *testing.T) {
	h := newHarness(t, nil)
	h.step(1)
	h.clk.Advance(300 * time.Millisecond)
	if sc := h.startScenario(`{"name":"cpu-spike","target":{` + t1p1i1 + `}}`); !sc.EffectiveAt.IsZero() {
		t.Fatalf("effective at %v before any step", sc.EffectiveAt)
	}
	h.step(1)
	want := h.clk.Now()
	h.step(3)
	if got := h.sim.Scenarios()[0].EffectiveAt; !got.Equal(want) {
		t.Fatalf("effective at %v, want the first step after the start, %v", got, want)
	}
}

func TestKeyDisable(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	if on := h.scrape().sum("gateway_key_enabled", "master", "m1"); on != float64(h.sim.opts.KeysPerMaster) {
		t.Fatalf("m1 has %g keys enabled before the scenario, want all %d", on, h.sim.opts.KeysPerMaster)
	}
	sc := h.startScenario(`{"name":"key-disable","target":{"master":"m1","key":"m1-k2"}}`)
	got := h.scrape()
	if on := got.sum("gateway_key_enabled", "master", "m1", "key", "m1-k2"); on != 0 {
		t.Errorf("m1-k2 enabled = %g during key-disable", on)
	}
	if on := got.sum("gateway_key_enabled", "master", "m1", "key", "m1-k1"); on != 1 {
		t.Errorf("m1-k1 enabled = %g, untargeted", on)
	}
	if inc := h.increase(60, "gateway_requests_total", "key", "m1-k2"); inc != 0 {
		t.Errorf("a disabled key served %g requests", inc)
	}
	if inc := h.increase(60, "gateway_requests_total", "key", "m1-k1"); inc == 0 {
		t.Error("m1-k1 served nothing, untargeted")
	}
	h.doJSON("DELETE", "/sim/scenario/"+itoa(sc.ID), "", http.StatusOK, nil)
	if on := h.scrape().sum("gateway_key_enabled", "key", "m1-k2"); on != 1 {
		t.Errorf("m1-k2 enabled = %g after the scenario", on)
	}
	if inc := h.increase(60, "gateway_requests_total", "key", "m1-k2"); inc == 0 {
		t.Error("m1-k2 serves nothing after the scenario")
	}
	// Without a key the scenario names the master's first one.
	if sc := h.startScenario(`{"name":"key-disable","target":{"master":"m2"}}`); sc.Target.Key != "m2-k1" {
		t.Errorf("key-disable without a key targets %q, want m2-k1", sc.Target.Key)
	}
}

func TestKeyExpiry(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	exp := func(key string) float64 { return h.scrape().sum("gateway_key_expires_timestamp_seconds", "key", key) }
	now := float64(h.clk.Now().Unix())
	if d := (exp("m1-k1") - now) / 86400; d < 80 {
		t.Errorf("m1-k1 expires in %.1f days without a scenario, want ≥ 80", d)
	}
	if exp("m1-k1") == exp("m1-k2") {
		t.Error("two keys share an expiry")
	}
	// An expiry a tenth of a day (8640 s) ahead: the key serves until then.
	h.startScenario(`{"name":"key-expiry","target":{"master":"m1","key":"m1-k1"},"params":{"days":0.1}}`)
	if d := (exp("m1-k1") - float64(h.clk.Now().Unix())) / 86400; math.Abs(d-0.1) > 0.001 {
		t.Errorf("m1-k1 expires in %.4f days, want 0.1", d)
	}
	if inc := h.increase(60, "gateway_requests_total", "key", "m1-k1"); inc == 0 {
		t.Error("m1-k1 served nothing before its expiry")
	}
	h.clk.Advance(8640 * time.Second)
	h.step(1)
	if inc := h.increase(60, "gateway_requests_total", "key", "m1-k1"); inc != 0 {
		t.Errorf("m1-k1 served %g requests after its expiry", inc)
	}
	for _, body := range []string{
		`{"name":"key-expiry","target":{"master":"m1","key":"m9-k1"}}`,
		`{"name":"key-expiry","target":{"key":"m1-k1"}}`,
		`{"name":"key-expiry","target":{"master":"m1"},"params":{"days":-31}}`,
		`{"name":"key-disable","target":{"master":"m1","provider":"openai"}}`,
		`{"name":"error-burst","target":{"master":"m1","key":"m1-k1"}}`,
	} {
		if rec := h.do("POST", "/sim/scenario", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, rec.Code, rec.Body)
		}
	}
}

func TestProviderOutage(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	h.startScenario(`{"name":"provider-outage","target":{"provider":"openai"}}`)
	got := h.scrape()
	if up := got.sum("gateway_provider_up", "provider", "openai"); up != 0 {
		t.Errorf("openai up = %g during its outage", up)
	}
	if up := got.sum("gateway_provider_up", "provider", "anthropic"); up != 1 {
		t.Errorf("anthropic up = %g, untargeted", up)
	}
	before := h.scrape()
	h.step(300)
	after := h.scrape()
	inc := func(name string, match ...string) float64 {
		return after.sum(name, match...) - before.sum(name, match...)
	}
	all := inc("gateway_requests_total", "provider", "openai")
	if all == 0 {
		t.Fatal("no requests routed to openai during its outage")
	}
	if s := inc("gateway_requests_total", "provider", "openai", "code", "503") / all; s != 1 {
		t.Errorf("openai answered %.3f of its requests 503, want all", s)
	}
	if tok := inc("gateway_tokens_total", "provider", "openai"); tok != 0 {
		t.Errorf("openai used %g tokens while down", tok)
	}
	if s := inc("gateway_requests_total", "provider", "anthropic", "code", "503") / inc("gateway_requests_total", "provider", "anthropic"); s > 0.05 {
		t.Errorf("anthropic answered %.3f 503, untargeted", s)
	}
	if rec := h.do("POST", "/sim/scenario", `{"name":"provider-outage"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("provider-outage without a provider: %d, want 400", rec.Code)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	h.startScenario(`{"name":"rate-limit","target":{"master":"m1"},"params":{"ratio":0.4}}`)
	h.startScenario(`{"name":"error-burst","target":{"master":"m1"},"params":{"ratio":0.2}}`)
	h.step(5)
	before := h.scrape()
	h.step(300)
	after := h.scrape()
	share := func(master string, codes ...string) float64 {
		inc := func(match ...string) float64 {
			m := append([]string{"master", master}, match...)
			return after.sum("gateway_requests_total", m...) - before.sum("gateway_requests_total", m...)
		}
		var n float64
		for _, c := range codes {
			n += inc("code", c)
		}
		return n / inc()
	}
	// Each scenario keeps its own share when both run.
	if s := share("m1", "429"); s < 0.38 || s > 0.42 {
		t.Errorf("m1 429 share %.3f, want 0.4", s)
	}
	if s := share("m1", "500", "503"); s < 0.18 || s > 0.22 {
		t.Errorf("m1 5xx share %.3f, want 0.2", s)
	}
	if s := share("m2", "429"); s > 0.05 {
		t.Errorf("m2 429 share %.3f, untargeted", s)
	}
}
