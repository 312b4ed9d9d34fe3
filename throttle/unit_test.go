package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/store"
)

func TestHTTPGateway(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got struct {
		auth, key, ctype string
		body             map[string]any
	}
	status, answer := http.StatusOK, `{"tenant_id":"t1","plugin_id":"p","instance_id":"i1","max_concurrency":8,"previous_max_concurrency":64,"expires_at":"2026-03-02T12:05:00Z","idempotency_key":"k1"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"throttles":[`+answer+`]}`)
			return
		}
		got.auth, got.key, got.ctype = r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type")
		json.NewDecoder(r.Body).Decode(&got.body)
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	gw, err := NewHTTPGateway(config.ThrottleGateway{URL: srv.URL + "/", Path: config.DefaultThrottlePath,
		Authorization: &config.Authorization{CredentialsFile: filepath.Join(dir, "token")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := Request{Instance: Instance{"t1", "p", "i1"}, MaxConcurrency: 8, TTL: 90 * time.Second, IdempotencyKey: "k1"}
	a, err := gw.Throttle(ctx, req)
	if err != nil || a.MaxConcurrency != 8 || a.PreviousMaxConcurrency != 64 || !a.Replayed || a.ExpiresAt.IsZero() {
		t.Fatalf("answer %+v %v", a, err)
	}
	if got.auth != "Bearer s3cret" || got.key != "k1" || got.ctype != "application/json" ||
		got.body["ttl_seconds"] != 90.0 || got.body["max_concurrency"] != 8.0 || got.body["instance_id"] != "i1" {
		t.Fatalf("request %+v", got)
	}
	list, err := gw.Throttles(ctx)
	if err != nil || len(list) != 1 || list[0].IdempotencyKey != "k1" {
		t.Fatalf("list %+v %v", list, err)
	}

	for _, tc := range []struct {
		status             int
		body               string
		reason             string
		retry, unsupported bool
		retryAfter         time.Duration
		messageContains    string
	}{
		{429, `{"error":"slow down"}`, "unavailable", true, false, 7 * time.Second, "slow down"},
		{500, `oops`, "unavailable", true, false, 7 * time.Second, "oops"},
		{503, `{"error":"x"}`, "unavailable", true, false, 7 * time.Second, "x"},
		{501, `{"error":"no throttle API"}`, "unsupported", false, true, 7 * time.Second, "no throttle API"},
		{404, `{"error":"unknown instance"}`, "unsupported", false, true, 7 * time.Second, "unknown instance"},
		{400, `{"error":"max_concurrency must be positive"}`, "rejected", false, false, 7 * time.Second, "must be positive"},
		{200, `{not json`, "unreachable", true, false, 0, "malformed answer"},
	} {
		status, answer = tc.status, tc.body
		_, err := gw.Throttle(ctx, req)
		var ge *GatewayError
		if !errors.As(err, &ge) || ge.RetryAfter != tc.retryAfter || !strings.Contains(err.Error(), tc.messageContains) {
			t.Errorf("%d: %v (%+v)", tc.status, err, ge)
			continue
		}
		if reason, retry, unsupported := classify(err); reason != tc.reason || retry != tc.retry || unsupported != tc.unsupported {
			t.Errorf("%d: classified %s retry=%v unsupported=%v", tc.status, reason, retry, unsupported)
		}
	}
	// No answer in time is a timeout, retried.
	status, answer = http.StatusNoContent, ""
	a, err = gw.Throttle(ctx, req)
	if err != nil || a.MaxConcurrency != 8 || a.Instance != req.Instance {
		t.Fatalf("204: %+v %v", a, err)
	}
	dead, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-dead.Done()
	if _, err := gw.Throttle(dead, req); func() bool { r, retry, _ := classify(err); return r != "timeout" || !retry }() {
		t.Fatalf("expired context: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 20: 10 * time.Second} {
		if d := backoff(100*time.Millisecond, attempt, nil); d < want/2 || d > want {
			t.Errorf("attempt %d: %v, want within [%v, %v]", attempt, d, want/2, want)
		}
	}
	if d := backoff(time.Millisecond, 1, &GatewayError{StatusCode: 429, RetryAfter: time.Minute}); d != 30*time.Second {
		t.Errorf("Retry-After: %v, want the 30s cap", d)
	}
}

func TestPolicy(t *testing.T) {
	pol, err := NewPolicy(config.ThrottlePolicy{
		Exempt: []config.ThrottleMatch{{PluginID: "*-billing"}},
		Overrides: []config.ThrottleOverride{
			{ThrottleMatch: config.ThrottleMatch{TenantID: "t1", PluginID: "p1"}, Action: config.ThrottleAction{MaxConcurrency: 4}, TTL: config.Duration(5 * time.Minute)},
			{ThrottleMatch: config.ThrottleMatch{TenantID: "t1"}, Action: config.ThrottleAction{MinConcurrency: 10}},
		},
		BlastRadius: config.ThrottleBlastRadius{MaxPluginRatio: 0.3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !pol.exempt(Instance{"t2", "t2-billing", "i1"}) || pol.exempt(Instance{"t2", "t2-plugin", "i1"}) {
		t.Error("exempt globs")
	}
	a, ttl := pol.action(Instance{"t1", "p1", "i1"})
	if a.MaxConcurrency != 4 || a.MaxConcurrencyRatio != 0 || ttl != 5*time.Minute || a.StepRatio != 0.5 {
		t.Errorf("first override: %+v %v", a, ttl)
	}
	a, ttl = pol.action(Instance{"t1", "p2", "i1"})
	if a.MaxConcurrencyRatio != 0.5 || a.MinConcurrency != 10 || ttl != 10*time.Minute {
		t.Errorf("second override keeps the ratio: %+v %v", a, ttl)
	}
	for _, tc := range []struct {
		a       config.ThrottleAction
		cur     float64
		known   bool
		want    int
		wantErr error
	}{
		{config.ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 1}, 64, true, 32, nil},
		{config.ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 1}, 3, true, 1, nil},
		{config.ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 1}, 1, true, 0, errAtLimit},
		{config.ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 1}, 0, false, 0, errNoLimit},
		{config.ThrottleAction{MaxConcurrency: 16, MinConcurrency: 1}, 0, false, 16, nil},
		{config.ThrottleAction{MaxConcurrency: 16, MinConcurrency: 1}, 8, true, 0, errAtLimit},
		{config.ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 10}, 16, true, 10, nil},
	} {
		if got, err := limit(tc.a, tc.cur, tc.known); got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("limit(%+v, %g, %v) = %d, %v", tc.a, tc.cur, tc.known, got, err)
		}
	}
	if l, ok := stepLimit(config.ThrottleAction{StepRatio: 0.5, MinConcurrency: 4}, 6); l != 4 || !ok {
		t.Errorf("step from 6: %d %v", l, ok)
	}
	if _, ok := stepLimit(config.ThrottleAction{StepRatio: 0.5, MinConcurrency: 4}, 4); ok {
		t.Error("stepped below the minimum")
	}
	for total, want := range map[int]int{0: 1, 1: 1, 3: 1, 10: 3, 100: 30} {
		if got := pol.pluginCap(total); got != want {
			t.Errorf("plugin cap of %d instances: %d, want %d", total, got, want)
		}
	}
	if _, err := NewPolicy(config.ThrottlePolicy{Action: config.ThrottleAction{MaxConcurrencyRatio: 3}}); err == nil ||
		!strings.Contains(err.Error(), "action.max_concurrency_ratio") {
		t.Errorf("invalid policy: %v", err)
	}
}

func TestFromAlerts(t *testing.T) {
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	inst := labels.FromStrings("alertname", "PluginCPUHigh", "tenant_id", "t1", "plugin_id", "p", "instance_id", "i1", "severity", "critical")
	evs := FromAlerts([]*evaluator.Alert{
		{State: evaluator.StateFiring, Labels: inst, Value: 0.93, FiredAt: at, Action: "throttle"},
		{State: evaluator.StateInactive, Labels: inst, Value: 0.4, FiredAt: at, ResolvedAt: at.Add(time.Minute)},
		{State: evaluator.StatePending, Labels: inst, Value: 0.9},
		{State: evaluator.StateFiring, Labels: labels.FromStrings("alertname", "GatewayBudget", "master", "m1"), Value: 1},
	})
	want := []Event{
		{Rule: "PluginCPUHigh", Instance: Instance{"t1", "p", "i1"}, Firing: true, Value: 0.93, At: at},
		{Rule: "PluginCPUHigh", Instance: Instance{"t1", "p", "i1"}, Value: 0.4, At: at.Add(time.Minute)},
	}
	if len(evs) != len(want) || evs[0] != want[0] || evs[1] != want[1] {
		t.Fatalf("events %+v", evs)
	}
}

// TestPolicySaved: a policy saved at run time is in force at once,
// outlives a reload and a restart, and ResetPolicy brings the file's back.
func TestPolicySaved(t *testing.T) {
	h := newHarness(t, setup{})
	ctx := context.Background()
	p := h.ctl.Policy().Config()
	p.DryRun, p.Exempt = true, []config.ThrottleMatch{{TenantID: "vip"}}
	if _, err := h.ctl.SavePolicy(ctx, config.ThrottlePolicy{Action: config.ThrottleAction{MaxConcurrencyRatio: 2}}, "alice"); err == nil {
		t.Fatal("an invalid policy was saved")
	}
	if _, err := h.ctl.SavePolicy(ctx, p, "alice"); err != nil {
		t.Fatal(err)
	}
	file, _ := NewPolicy(config.ThrottlePolicy{})
	h.ctl.SetPolicy(file) // a reload of the file
	if !h.ctl.Policy().Config().DryRun {
		t.Fatal("a reload replaced the saved policy")
	}
	h.ctl.Close()
	h.start()
	if got := h.ctl.Policy().Config(); !got.DryRun || len(got.Exempt) != 1 || got.Exempt[0].TenantID != "vip" {
		t.Fatalf("after a restart: %+v", got)
	}
	if err := h.ctl.ResetPolicy(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if h.ctl.Policy().Config().DryRun {
		t.Fatal("the file's policy is not back")
	}
	if _, err := h.st.GetThrottlePolicy(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("saved policy after the reset: %v", err)
	}
	if got := actions(h.audits(Instance{})); strings.Join(got, " ") != "policy:saved policy:reset" {
		t.Fatalf("audit %v", got)
	}
}

// TestVerify: an answer the gateway's list does not bear out is a failure;
// verifying by the max_concurrency gauge works as the list does.
func TestVerify(t *testing.T) {
	h := newHarness(t, setup{opts: func(o *Options) { o.VerifyTimeout = 300 * time.Millisecond }})
	h.front.lie = 1
	h.spike(t1p1i1)
	h.steps(3)
	if got := strings.Join(actions(h.audits(t1p1i1)), " "); got != "decide:throttle apply:ok apply:failed" {
		t.Fatalf("audit %s", got)
	}
	if n := h.metric("gatewarden_throttle_failure_total", "op", "apply", "reason", "verify"); n != 1 {
		t.Fatalf("verify failures %g", n)
	}

	g := newHarness(t, setup{opts: func(o *Options) { o.Verify = config.VerifyGauge }})
	g.spike(t1p1i1)
	g.steps(3)
	if got := strings.Join(actions(g.audits(t1p1i1)), " "); got != "decide:throttle apply:ok verify:ok" {
		t.Fatalf("gauge verify: audit %s", got)
	}
}
