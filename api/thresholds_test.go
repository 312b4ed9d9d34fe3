package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/store"
)

// The defaults the thresholds endpoint reports are the built-in pack's.
func TestTrafficDefaultsAreTheBuiltinRules(t *testing.T) {
	gs, err := rules.Parse(rules.BuiltinSource(), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*rules.Rule{}
	for _, g := range gs.Groups {
		for i := range g.Rules {
			byName[g.Rules[i].Alert] = &g.Rules[i]
		}
	}
	for _, tt := range TrafficThresholds {
		r := byName[tt.rule]
		if r == nil || r.Condition == nil {
			t.Fatalf("%s: built-in rule %s missing or without a condition", tt.field, tt.rule)
		}
		got := r.Condition.Value
		if tt.level == rules.MinLevel {
			got = r.Condition.Min
		}
		if got != tt.def || r.Escalate != 2 {
			t.Errorf("%s: default %g, built-in %s says %g (escalate %g)", tt.field, tt.def, tt.rule, got, r.Escalate)
		}
	}
}

func TestThresholds(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		got := srv.expect("GET", "/admin/alerts/thresholds", "", http.StatusOK, "", readToken)
		if got["global_qps"] != 500.0 || got["min_tpm_tokens_1m"] != 1000.0 || got["updated_at"] == nil {
			t.Fatalf("defaults: %v", got)
		}
		// Whole numbers, in ez-api's field order.
		if _, raw := srv.raw("GET", "/admin/alerts/thresholds", ""); !strings.HasPrefix(string(raw), `{"global_qps":500,"master_rpm":600,"master_rpd":100000,"master_tpm":1000000,"master_tpd":100000000,"min_rpm_requests_1m":10,"min_tpm_tokens_1m":1000,"updated_at":`) {
			t.Fatalf("defaults as ez-api writes them: %s", raw)
		}
		got = srv.expect("PUT", "/admin/alerts/thresholds", `{"master_rpm": 120, "min_rpm_requests_1m": 0}`, http.StatusOK, "")
		if got["master_rpm"] != 120.0 || got["min_rpm_requests_1m"] != 0.0 || got["global_qps"] != 500.0 || got["updated_at"] == nil {
			t.Fatalf("partial update: %v", got)
		}
		for body, want := range map[string]string{
			`{"master_tpm": 0}`:                  "master_tpm must be positive",
			`{"global_qps": -3}`:                 "global_qps must be positive",
			`{"min_tpm_tokens_1m": -1}`:          "min_tpm_tokens_1m must be non-negative",
			`{"master_rpm": 1.5}`:                "cannot unmarshal number 1.5",
			`{"master_rpx": 1}`:                  `unknown field "master_rpx"`,
			`{"master_rpm": "many"}`:             "cannot unmarshal string",
			`{"master_rpm": 5, "master_rpd": 0}`: "master_rpd must be positive",
		} {
			srv.expect("PUT", "/admin/alerts/thresholds", body, http.StatusBadRequest, want)
		}
		// The rejected body changed nothing, not even its valid field.
		if got := srv.expect("GET", "/admin/alerts/thresholds", "", http.StatusOK, ""); got["master_rpm"] != 120.0 {
			t.Fatalf("after rejected updates: %v", got)
		}
		// The evaluator's view changed at once: warning at 120, critical at
		// twice it, and no floor.
		rpm := &rules.Rule{Alert: "GatewayTrafficSpikeRPM", Escalate: 2}
		m1 := labels.FromStrings("master", "m1")
		if w, c, f := srv.overrides.Threshold(rpm, m1, rules.Warning, 600), srv.overrides.Threshold(rpm, m1, rules.Critical, 1200), srv.overrides.Threshold(rpm, m1, rules.MinLevel, 10); w != 120 || c != 240 || f != 0 {
			t.Fatalf("evaluator thresholds warning %g critical %g min %g", w, c, f)
		}
	})
}

func TestRuleOverrides(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		base := "/admin/rules/GatewayErrorRate/overrides"
		o := srv.expect("PUT", base, `{"labels":{"master":"m1"},"level":"warning","value":0.1}`, http.StatusOK, "")
		srv.expect("PUT", base, `{"level":"critical","value":0.5}`, http.StatusOK, "")
		srv.expect("PUT", base, `{"labels":{"master":"m1"},"level":"warning","value":0.15}`, http.StatusOK, "") // replaces
		list := srv.expect("GET", base, "", http.StatusOK, "", readToken)
		if items := list["items"].([]any); len(items) != 2 {
			t.Fatalf("overrides: %v", list)
		}
		r := &rules.Rule{Alert: "GatewayErrorRate"}
		if v := srv.overrides.Threshold(r, labels.FromStrings("master", "m1", "x", "y"), rules.Warning, 0.05); v != 0.15 {
			t.Fatalf("m1 warning %g, want the override 0.15", v)
		}
		if v := srv.overrides.Threshold(r, labels.FromStrings("master", "m2"), rules.Warning, 0.05); v != 0.05 {
			t.Fatalf("m2 warning %g, want the rule's 0.05", v)
		}
		if v := srv.overrides.Threshold(r, labels.FromStrings("master", "m2"), rules.Critical, 0.2); v != 0.5 {
			t.Fatalf("m2 critical %g, want the rule-wide 0.5", v)
		}
		srv.expect("PUT", base, `{"level":"severe","value":1}`, http.StatusBadRequest, `unknown level "severe"`)
		srv.expect("PUT", base, `{"level":"warning"}`, http.StatusBadRequest, "value is required")
		srv.expect("PUT", base, `{"labels":{"__name__":"x"},"level":"warning","value":1}`, http.StatusBadRequest, "invalid label name")
		del := fmt.Sprintf("%s/%d", base, id(o))
		if code, _ := srv.raw("DELETE", del, ""); code != http.StatusNoContent {
			t.Fatalf("delete: %d", code)
		}
		srv.expect("DELETE", del, "", http.StatusNotFound, "not found")
		if v := srv.overrides.Threshold(r, labels.FromStrings("master", "m1"), rules.Warning, 0.05); v != 0.05 {
			t.Fatalf("after delete m1 warning %g", v)
		}
	})
}
