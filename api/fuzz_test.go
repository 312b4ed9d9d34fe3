package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/overrides"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/throttle"
)

// fuzzRoutes are the admin writes that read a JSON body; an input's first
// byte picks one. {alert} and {channel} name rows the rig creates.
var fuzzRoutes = []string{
	"POST /admin/alerts",
	"PUT /admin/alerts/thresholds",
	"PUT /admin/rules/GatewayErrorRate/overrides",
	"POST /admin/alert-channels",
	"PUT /admin/alert-channels/{channel}",
	"PUT /admin/throttles/policy",
	"POST /admin/alerts/{alert}/ack",
	"POST /admin/throttles/1/feedback",
}

// FuzzAdminBodies sends any body to the admin API's writes, served by the
// real handlers over SQLite, delivery integrations that validate channel
// configs and an auto-throttle that validates and saves policies. Whatever
// the body: no panic, no 5xx but 503, every 4xx a JSON {"error": ...},
// and no secret of a channel config in an answer.
func FuzzAdminBodies(f *testing.F) {
	for i, bodies := range [][]string{
		{budgetAlert, `{"type":`, `{"type":"budget","severity":"warning","title":"x","colour":"red"}`, `{"type":"budget","severity":"warning","title":"x"} {}`,
			`{"type":"cpu_anomaly","severity":"critical","title":"i1 hot"}`, `{"type":"budget","severity":"info","title":"x","expires_at":"soon"}`,
			`{"type":"latency","severity":"critical","title":"a1","labels":{"master":"m1"},"metadata":null,"expires_at":1800000000}`},
		{`{"master_rpm": 120, "min_rpm_requests_1m": 0}`, `{"master_tpm": 0}`, `{"global_qps": -3}`, `{"master_rpx": 1}`, `{"master_rpm": "many"}`, `{"master_rpm": 1e309}`},
		{`{"labels":{"master":"m1"},"level":"warning","value":0.1}`, `{"level":"critical","value":0.5}`, `{"level":"severe","value":1}`,
			`{"level":"warning"}`, `{"labels":{"__name__":"x"},"level":"warning","value":1}`, `{"level":"min","value":0}`},
		{`{"name":"ops-bot","type":"feishu","config":{"url":"https://open.feishu.cn/open-apis/bot/v2/hook/tok-123","secret":"sign-456","mentions":["ou_1"]}}`,
			`{"name":"x","type":"pager"}`, `{"type":"email"}`, `{"name":"x","type":"email","config":[1]}`,
			`{"name":"hook","type":"webhook","config":{"url":"x"}}`, `{"name":"hook","type":"webhook","config":{"url":"http://x","sekret":"y"}}`,
			`{"name":"hook","type":"webhook","config":{"url":"http://127.0.0.1:1/hook?token=tok-1","secret":"hook-secret"}}`},
		{`{"name":"ops-bot","type":"feishu","enabled":false,"config":{"url":"<secret>","secret":"<secret>","mentions":["ou_2"]}}`,
			`{"name":"ops-bot","type":"feishu","config":{"url":"https://open.feishu.cn/hook/new","secret":"new-secret"}}`},
		{`{}`, `{"rule":"PluginCPUHigh","action":{"max_concurrency_ratio":0.5,"min_concurrency":1,"step_ratio":0.5},"ttl":"10m","renew_before":"2m","recovery_threshold":0.7,"stable_window":"2m","escalate_after":"2m","max_steps":2,"exempt":[{"tenant_id":"t1"}],"overrides":[{"plugin_id":"p*","action":{"max_concurrency":4},"ttl":"5m"}],"blast_radius":{"max_instances":10,"max_plugin_ratio":0.5},"dry_run":true}`,
			`{"action":{"max_concurrency":4,"max_concurrency_ratio":0.5}}`, `{"ttl":"soon"}`, `{"exempt":[{"tenant_id":"["}]}`},
		{`{"acked_by":"alice"}`, `{}`, `{"acked_by":"  "}`},
		{`{"by":"bob","false_positive":false}`, `{"by":1}`},
	} {
		for _, b := range bodies {
			f.Add(uint8(i), []byte(b))
		}
	}

	h, vars := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		pattern := fuzzRoutes[int(route)%len(fuzzRoutes)]
		method, path, _ := strings.Cut(pattern, " ")
		for k, v := range vars {
			path = strings.ReplaceAll(path, "{"+k+"}", v)
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		checkAdminAnswer(t, pattern, w)
		// An override kept would make every later write reload one more.
		if w.Code == http.StatusOK && strings.HasSuffix(pattern, "/overrides") {
			var o struct{ ID int64 }
			_ = json.Unmarshal(w.Body.Bytes(), &o)
			del := httptest.NewRecorder()
			h.ServeHTTP(del, httptest.NewRequest(http.MethodDelete, fmt.Sprintf("%s/%d", path, o.ID), nil))
			if del.Code != http.StatusNoContent {
				t.Fatalf("deleting override %d: %d %s", o.ID, del.Code, del.Body)
			}
		}
	})
}

func checkAdminAnswer(t *testing.T, pattern string, w *httptest.ResponseRecorder) {
	t.Helper()
	code, body := w.Code, bytes.TrimSpace(w.Body.Bytes())
	switch {
	case code >= 500 && code != http.StatusServiceUnavailable:
		t.Fatalf("%s: %d %s", pattern, code, body)
	case code >= 400:
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d answer is not JSON: %q (%v)", pattern, code, body, err)
		}
		if msg, _ := e["error"].(string); msg == "" {
			t.Fatalf("%s: %d answer without an error: %s", pattern, code, body)
		}
	case len(body) > 0:
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: %d answer is not JSON: %q (%v)", pattern, code, body, err)
		}
		if cfg, ok := out["config"].(map[string]any); ok {
			typ, _ := out["type"].(string)
			if leak := secretIn(typ, "", cfg); leak != "" {
				t.Fatalf("%s: %d answer shows the secret %s: %s", pattern, code, leak, body)
			}
			if typ == "webhook" && urlShown(cfg) {
				t.Fatalf("%s: %d answer shows more of the webhook URL than its origin: %s", pattern, code, body)
			}
		}
	}
}

// secretIn names a secret under v left unredacted. Unlike walkSecrets it
// also looks inside arrays: a leak there is a leak all the same.
func secretIn(typ, parent string, v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if s, ok := sub.(string); ok && s != "" && s != Redacted && secretKey(typ, parent, k) {
				return k
			}
			if leak := secretIn(typ, k, sub); leak != "" {
				return leak
			}
		}
	case []any:
		for _, sub := range x {
			if leak := secretIn(typ, parent, sub); leak != "" {
				return leak
			}
		}
	}
	return ""
}

// urlShown reports a webhook URL shown with a path, query, fragment or
// user info: where providers put the credential.
func urlShown(cfg map[string]any) bool {
	s, _ := cfg["url"].(string)
	if public, _ := cfg["url_public"].(bool); public || s == "" || s == Redacted {
		return false
	}
	u, err := url.Parse(s)
	return err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" && u.Path != "/" && u.Path != "/"+Redacted
}

// newFuzzAPI is newServerWith for a fuzz run: open (authorization is not
// what is fuzzed), on SQLite, served without a listener, with an alert
// and a channel for the routes that act on one.
func newFuzzAPI(f *testing.F) (http.Handler, map[string]string) {
	s := storetest.SQLite(f)
	pol, err := throttle.NewPolicy(config.ThrottlePolicy{})
	if err != nil {
		f.Fatal(err)
	}
	tc, err := throttle.New(throttle.Options{Gateway: noGateway{}, Sampler: noGateway{}, Store: s, Policy: pol, Verify: config.VerifyNone, Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = tc.Close() })
	a := New(Options{Store: s, Overrides: overrides.New(s, nil, nil), Channels: &receiver.Integrations{}, Guard: access.New()})
	a.SetThrottles(tc)
	mux := http.NewServeMux()
	a.Register(mux)

	vars := map[string]string{}
	for k, req := range map[string][2]string{
		"alert":   {"/admin/alerts", budgetAlert},
		"channel": {"/admin/alert-channels", `{"name":"ops-bot","type":"feishu","config":{"url":"https://open.feishu.cn/open-apis/bot/v2/hook/tok-123","secret":"sign-456"}}`},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, req[0], strings.NewReader(req[1])))
		var out struct{ ID int64 }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusCreated {
			f.Fatalf("creating the %s: %d %s", k, w.Code, w.Body)
		}
		vars[k] = fmt.Sprint(out.ID)
	}
	return mux, vars
}

// noGateway stands for a gateway that is never called: the policy routes
// only validate and store.
type noGateway struct{}

var errNoGateway = errors.New("no gateway in the fuzz rig")

func (noGateway) Throttle(context.Context, throttle.Request) (throttle.Applied, error) {
	return throttle.Applied{}, errNoGateway
}

func (noGateway) CPU(context.Context, throttle.Instance) (float64, bool, error) {
	return 0, false, nil
}

func (noGateway) MaxConcurrency(context.Context, throttle.Instance) (float64, bool, error) {
	return 0, false, nil
}

func (noGateway) PluginInstances(context.Context) (map[throttle.Plugin]int, error) {
	return nil, nil
}
