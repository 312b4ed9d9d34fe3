package throttle

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// FuzzPolicy reads a throttle policy as the admin API receives it (JSON)
// or as gatewarden.yml's throttle section holds it (YAML). A policy that
// validates must survive the store (SavePolicy's JSON read back by Load
// at a restart, or the restart silently falls back to the file's), and
// every decision it takes must be a sane one.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		// The admin API's bodies (api/fuzz_test.go) and the store's shape.
		`{}`, `{"rule":"PluginCPUHigh","action":{"max_concurrency_ratio":0.5,"min_concurrency":1,"step_ratio":0.5},"ttl":"10m","renew_before":"2m","recovery_threshold":0.7,"stable_window":"2m","escalate_after":"2m","max_steps":2,"exempt":[{"tenant_id":"t1"}],"overrides":[{"plugin_id":"p*","action":{"max_concurrency":4},"ttl":"5m"}],"blast_radius":{"max_instances":10,"max_plugin_ratio":0.5},"dry_run":true}`,
		`{"action":{"max_concurrency":4,"max_concurrency_ratio":0.5}}`, `{"ttl":"soon"}`, `{"exempt":[{"tenant_id":"["}]}`,
		// unit_test.go's TestPolicy.
		`{"exempt":[{"plugin_id":"*-billing"}],"overrides":[{"tenant_id":"t1","plugin_id":"p1","action":{"max_concurrency":4},"ttl":"5m"},{"tenant_id":"t1","action":{"min_concurrency":10}}],"blast_radius":{"max_plugin_ratio":0.3}}`,
		`{"action":{"max_concurrency_ratio":3}}`,
	} {
		f.Add(false, []byte(s))
	}
	for _, s := range []string{
		// config/throttle_test.go's sections, the policy fields only.
		"rule: MyCPU\naction: {max_concurrency: 8, min_concurrency: 2, step_ratio: 0.25}\nttl: 15m\nexempt:\n  - {tenant_id: vip-*}\n  - {plugin_id: \"*-billing\", instance_id: i1}\noverrides:\n  - tenant_id: t1\n    action: {max_concurrency_ratio: 0.25}\n    ttl: 5m\nblast_radius: {max_instances: 50, max_plugin_ratio: 0.5}\ndry_run: true\n",
		"action: {max_concurrency: 8, max_concurrency_ratio: 0.5}\n", "action: {max_concurrency_ratio: 1.5, step_ratio: 1}\n",
		"ttl: 1m\nrenew_before: 2m\nrecovery_threshold: 1.2\nmax_steps: 0\n",
		"exempt:\n  - {}\n  - {tenant_id: '['}\noverrides:\n  - {plugin_id: p1, ttl: 1m, action: {max_concurrency: -1}}\n",
		"blast_radius: {max_instances: -1, max_plugin_ratio: 50}\nfailure_alert_after: -1\n",
	} {
		f.Add(true, []byte(s))
	}

	f.Fuzz(func(t *testing.T, asYAML bool, data []byte) {
		var p config.ThrottlePolicy
		if asYAML {
			if _, err := yamlfile.Decode(data, "f.yml", &p); err != nil {
				return
			}
		} else {
			d := json.NewDecoder(bytes.NewReader(data))
			d.DisallowUnknownFields()
			if d.Decode(&p) != nil {
				return
			}
		}
		pol, err := NewPolicy(p)
		if err != nil {
			return
		}
		body, err := marshalPolicy(pol)
		if err != nil {
			t.Fatalf("a valid policy does not marshal: %v", err)
		}
		var back config.ThrottlePolicy
		if err := json.Unmarshal(body, &back); err != nil {
			t.Fatalf("the stored policy does not read back: %v\n%s", err, body)
		}
		again, err := NewPolicy(back)
		if err != nil {
			t.Fatalf("the stored policy no longer validates: %v\n%s", err, body)
		}
		if b2, _ := marshalPolicy(again); !bytes.Equal(b2, body) {
			t.Fatalf("the policy changed through the store:\n%s\n%s", body, b2)
		}
		checkDecisions(t, pol)
	})
}

// checkDecisions takes the policy's decisions for instances its own
// globs name, and for current limits from none to absurd.
func checkDecisions(t *testing.T, pol *Policy) {
	t.Helper()
	insts := []Instance{{"t1", "p1", "i1"}}
	for _, m := range pol.cfg.Exempt {
		insts = append(insts, Instance{m.TenantID, m.PluginID, m.InstanceID})
	}
	for _, o := range pol.cfg.Overrides {
		insts = append(insts, Instance{o.TenantID, o.PluginID, o.InstanceID})
	}
	for _, i := range insts {
		_ = pol.exempt(i)
		a, ttl := pol.action(i)
		if ttl <= 0 || ttl > 30*24*time.Hour || ttl <= time.Duration(pol.cfg.RenewBefore) {
			t.Fatalf("%v: ttl %s (renew_before %s)", i, ttl, pol.cfg.RenewBefore)
		}
		for _, cur := range []float64{0, 1, 2, 3, 64, 1e6, 1e300, math.Inf(1), math.NaN()} {
			for _, known := range []bool{true, false} {
				l, err := limit(a, cur, known)
				if err != nil {
					if !errors.Is(err, errNoLimit) && !errors.Is(err, errAtLimit) {
						t.Fatalf("%v: limit(%+v, %g, %v): %v", i, a, cur, known, err)
					}
					continue
				}
				if l < 1 || known && !math.IsNaN(cur) && float64(l) >= cur {
					t.Fatalf("%v: limit(%+v, %g, %v) = %d", i, a, cur, known, l)
				}
				if next, ok := stepLimit(a, l); next < 1 || ok && next >= l || !ok && next < l {
					t.Fatalf("%v: step from %d under %+v: %d %v", i, l, a, next, ok)
				}
			}
		}
	}
	for _, n := range []int{0, 1, 2, 7, 1 << 20} {
		if c := pol.pluginCap(n); c < 1 {
			t.Fatalf("plugin cap of %d instances: %d", n, c)
		}
	}
	if pol.instanceCap() < 1 {
		t.Fatalf("instance cap %d", pol.instanceCap())
	}
}
