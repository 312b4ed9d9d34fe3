package gatewaysim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const throttlePath = "/internal/gateway/throttle"

func throttleBody(limit, ttl string) string {
	return `{` + t1p1i1 + `,"max_concurrency":` + limit + `,"ttl_seconds":` + ttl + `}`
}

func (h *harness) patch(body, key string, wantStatus int) Throttle {
	h.t.Helper()
	var th Throttle
	h.doJSON("PATCH", throttlePath, body, wantStatus, &th, "Idempotency-Key", key)
	return th
}

func (h *harness) instanceGauge(name string) float64 {
	return h.scrape().sum(name, "tenant_id", "t1", "plugin_id", "t1-plugin1", "instance_id", "i1")
}

func TestThrottleAppliesAndExpires(t *testing.T) {
	h := newHarness(t, nil)
	h.startScenario(`{"name":"cpu-spike","target":{` + t1p1i1 + `}}`)
	h.step(5)
	if cpu := h.instanceGauge("gateway_plugin_cpu_usage_ratio"); cpu <= 0.9 {
		t.Fatalf("cpu %g under the spike", cpu)
	}

	th := h.patch(throttleBody("32", "300"), "k1", http.StatusOK)
	want := Throttle{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1", MaxConcurrency: 32,
		PreviousMaxConcurrency: defaultMaxCon, ExpiresAt: h.clk.Now().Add(300 * time.Second), AppliedAt: h.clk.Now(),
		IdempotencyKey: "k1"}
	if th != want {
		t.Fatalf("PATCH answered %+v, want %+v", th, want)
	}
	if got := h.instanceGauge("gateway_plugin_max_concurrency"); got != 32 {
		t.Fatalf("max_concurrency %g after the throttle", got)
	}
	h.step(1)
	if cpu := h.instanceGauge("gateway_plugin_cpu_usage_ratio"); cpu < 0.45 || cpu > 0.5 {
		t.Fatalf("cpu %g throttled to half, want about 0.95/2", cpu)
	}

	var list struct{ Throttles []Throttle }
	h.doJSON("GET", throttlePath, "", http.StatusOK, &list)
	if len(list.Throttles) != 1 || list.Throttles[0] != want {
		t.Fatalf("listed %+v", list)
	}

	h.step(300)
	if got := h.instanceGauge("gateway_plugin_max_concurrency"); got != defaultMaxCon {
		t.Fatalf("max_concurrency %g after the TTL, want %d", got, defaultMaxCon)
	}
	if cpu := h.instanceGauge("gateway_plugin_cpu_usage_ratio"); cpu <= 0.9 {
		t.Fatalf("cpu %g after the throttle expired under an active spike, want > 0.9", cpu)
	}
	h.doJSON("GET", throttlePath, "", http.StatusOK, &list)
	if len(list.Throttles) != 0 {
		t.Fatalf("expired throttle still listed: %+v", list)
	}
}

func TestThrottleIsIdempotent(t *testing.T) {
	h := newHarness(t, nil)
	first := h.patch(throttleBody("16", "60"), "same", http.StatusOK)
	h.clk.Advance(10 * time.Second)
	rec := h.do("PATCH", throttlePath, throttleBody("8", "600"), "Idempotency-Key", "same")
	if rec.Code != http.StatusOK || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", rec.Code, rec.Header())
	}
	var again Throttle
	h.doJSON("PATCH", throttlePath, throttleBody("8", "600"), http.StatusOK, &again, "Idempotency-Key", "same")
	if again != first {
		t.Fatalf("replay answered %+v, want the original %+v", again, first)
	}
	if got := h.instanceGauge("gateway_plugin_max_concurrency"); got != 16 {
		t.Fatalf("a replay changed max_concurrency to %g", got)
	}

	// A new key replaces the throttle; its previous limit is the one in force.
	second := h.patch(throttleBody("8", "60"), "other", http.StatusOK)
	if second.PreviousMaxConcurrency != 16 {
		t.Errorf("previous_max_concurrency %d, want 16", second.PreviousMaxConcurrency)
	}
	// Restoring the original limit releases the throttle.
	released := h.patch(throttleBody("64", "60"), "release", http.StatusOK)
	if !released.Released || released.PreviousMaxConcurrency != 8 {
		t.Errorf("release answered %+v", released)
	}
	if n := len(h.sim.Throttles()); n != 0 {
		t.Errorf("%d throttles after the release", n)
	}

	// Keys are forgotten after a day of sim time: the same key applies anew.
	h.clk.Advance(keyRetention)
	h.step(1)
	if th := h.patch(throttleBody("4", "60"), "same", http.StatusOK); th.MaxConcurrency != 4 {
		t.Errorf("a key a day old was replayed: %+v", th)
	}
	got := h.scrape()
	if n := got.sum("gatewaysim_throttle_requests_total", "code", "200"); n != 6 {
		t.Errorf("counted %g answered PATCHes, want 6", n)
	}
	if n := got.sum("gatewaysim_active_throttles"); n != 1 {
		t.Errorf("gatewaysim_active_throttles = %g", n)
	}
}

func TestThrottleRejectsBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct{ body, key, reason string }{
		{`{"tenant_id":`, "k", "malformed JSON"},
		{``, "k", "empty"},
		{`{}{}`, "k", "malformed JSON"},
		{`{"plugin_id":"t1-plugin1","instance_id":"i1","max_concurrency":8,"ttl_seconds":60}`, "k", "tenant_id is required"},
		{`{"tenant_id":"t1","instance_id":"i1","max_concurrency":8,"ttl_seconds":60}`, "k", "plugin_id is required"},
		{`{"tenant_id":"t1","plugin_id":"t1-plugin1","max_concurrency":8,"ttl_seconds":60}`, "k", "instance_id is required"},
		{`{` + t1p1i1 + `,"ttl_seconds":60}`, "k", "max_concurrency is required"},
		{`{` + t1p1i1 + `,"max_concurrency":8}`, "k", "ttl_seconds is required"},
		{throttleBody("0", "60"), "k", "max_concurrency must be positive"},
		{throttleBody("-3", "60"), "k", "max_concurrency must be positive"},
		{throttleBody("2.5", "60"), "k", "malformed JSON"},
		{throttleBody("8", "0"), "k", "ttl_seconds must be positive"},
		{throttleBody("8", "60"), "", "Idempotency-Key"},
		{throttleBody("8", "60"), strings.Repeat("k", 256), "Idempotency-Key"},
	} {
		var e errorBody
		h.doJSON("PATCH", throttlePath, tc.body, http.StatusBadRequest, &e, "Idempotency-Key", tc.key)
		if !strings.Contains(e.Error, tc.reason) {
			t.Errorf("PATCH %s: error %q, want it to mention %q", tc.body, e.Error, tc.reason)
		}
	}

	var e errorBody
	body := `{"tenant_id":"t9","plugin_id":"t9-plugin1","instance_id":"i1","max_concurrency":8,"ttl_seconds":60}`
	h.doJSON("PATCH", throttlePath, body, http.StatusNotFound, &e, "Idempotency-Key", "k")
	if !strings.Contains(e.Error, "unknown instance") {
		t.Errorf("404 error %q", e.Error)
	}

	huge := `{"tenant_id":"` + strings.Repeat("t", maxBodyBytes) + `"}`
	h.doJSON("PATCH", throttlePath, huge, http.StatusRequestEntityTooLarge, &e, "Idempotency-Key", "k")

	// Unknown fields are ignored, as a gateway would.
	h.patch(`{`+t1p1i1+`,"max_concurrency":8,"ttl_seconds":60,"reason":"cpu"}`, "extra", http.StatusOK)

	if n := h.scrape().sum("gatewaysim_throttle_requests_total", "code", "400"); n != 14 {
		t.Errorf("counted %g 400s, want 14", n)
	}
}

func TestThrottleFaults(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ThrottleFailRate = 1 })
	h.patch(throttleBody("8", "60"), "k", http.StatusServiceUnavailable)
	if got := h.instanceGauge("gateway_plugin_max_concurrency"); got != defaultMaxCon {
		t.Errorf("a failed PATCH set max_concurrency to %g", got)
	}

	h = newHarness(t, func(o *Options) { o.ThrottleUnsupported = []string{"t1-*"} })
	var e errorBody
	h.doJSON("PATCH", throttlePath, throttleBody("8", "60"), http.StatusNotImplemented, &e, "Idempotency-Key", "k")
	if !strings.Contains(e.Error, "does not support") {
		t.Errorf("501 error %q", e.Error)
	}
	other := `{"tenant_id":"t2","plugin_id":"t2-plugin1","instance_id":"i1","max_concurrency":8,"ttl_seconds":60}`
	h.patch(other, "k2", http.StatusOK)

	const delay = 30 * time.Millisecond
	h = newHarness(t, func(o *Options) { o.ThrottleLatency = delay })
	began := time.Now()
	h.patch(throttleBody("8", "60"), "k", http.StatusOK)
	if took := time.Since(began); took < delay {
		t.Errorf("PATCH answered in %v with %v latency", took, delay)
	}
}

// TestIdempotencyStoreIsBounded fills the store past maxKeys within a day.
func TestIdempotencyStoreIsBounded(t *testing.T) {
	st := newIdempotencyStore()
	for i := range maxKeys + 10 {
		st.put(itoa(i), start, throttleAnswer{status: http.StatusOK})
	}
	if len(st.answers) != maxKeys {
		t.Fatalf("store holds %d keys, want %d", len(st.answers), maxKeys)
	}
	if _, ok := st.get("0"); ok {
		t.Error("the oldest key survived")
	}
	if _, ok := st.get(itoa(maxKeys + 9)); !ok {
		t.Error("the newest key was dropped")
	}
	if len(st.order)-st.head != maxKeys || len(st.order) > 2*maxKeys {
		t.Errorf("order holds %d entries, %d live", len(st.order), len(st.order)-st.head)
	}
}
