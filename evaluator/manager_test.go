package evaluator

import (
	"testing"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/rules"
)

func TestBuiltinPackOnlyWithoutRuleFilesKey(t *testing.T) {
	for _, tc := range []struct {
		yml     string
		builtin bool
	}{{"global: {}\n", true}, {"rule_files: []\n", false}} {
		cfg, err := config.Load([]byte(tc.yml), "")
		if err != nil {
			t.Fatal(err)
		}
		m := NewManager(Options{})
		if err := m.ApplyConfig(cfg); err != nil {
			t.Fatal(err)
		}
		gs := m.Groups()
		if got := len(gs) > 0 && gs[0].file == rules.BuiltinFile; got != tc.builtin || !tc.builtin && len(gs) != 0 {
			t.Errorf("%q: %d groups, builtin %v", tc.yml, len(gs), got)
		}
	}
}

func TestBadRuleFileKeepsRunningRules(t *testing.T) {
	h := newHarness(t, plainRule)
	before := len(h.m.Groups())
	cfg, err := config.Load([]byte("rule_files: [missing/*.yml, bad.yml]\n"), h.dir+"/gatewarden.yml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.dir+"/bad.yml", "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(\n")
	if err := h.m.ApplyConfig(cfg); err == nil {
		t.Fatal("a broken rule file must fail the apply")
	}
	if len(h.m.Groups()) != before {
		t.Error("a failed apply changed the groups")
	}
}
