package config

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// loadThrottle runs the section's hooks as the loader will once they are
// wired into Config: decode, defaults, paths, then located validation.
func loadThrottle(t *testing.T, yml, file string) (*ThrottleConfig, error) {
	t.Helper()
	var root struct {
		Throttle *ThrottleConfig `yaml:"throttle"`
	}
	doc, err := yamlfile.Decode([]byte(yml), file, &root)
	if err != nil {
		return nil, err
	}
	c := root.Throttle
	c.applyDefaults()
	dir := filepath.Dir(file)
	c.resolvePaths(func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	})
	if errs := doc.Locate(c.validate("throttle")); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

func TestThrottleDefaults(t *testing.T) {
	c, err := loadThrottle(t, "throttle:\n  gateway:\n    url: http://gw:8080/\n", "gw.yml")
	if err != nil {
		t.Fatal(err)
	}
	g := c.Gateway
	if g.Endpoint() != "http://gw:8080/internal/gateway/throttle" || time.Duration(g.Timeout) != 5*time.Second ||
		g.MaxAttempts != 3 || g.Verify != VerifyList || time.Duration(g.VerifyTimeout) != 5*time.Second || c.Workers != 8 {
		t.Fatalf("gateway defaults: %+v workers=%d", g, c.Workers)
	}
	p := c.ThrottlePolicy
	want := ThrottlePolicy{
		Rule:   "PluginCPUHigh",
		Action: ThrottleAction{MaxConcurrencyRatio: 0.5, MinConcurrency: 1, StepRatio: 0.5},
		TTL:    Duration(10 * time.Minute), RenewBefore: Duration(2 * time.Minute),
		RecoveryThreshold: 0.7, StableWindow: Duration(2 * time.Minute), EscalateAfter: Duration(2 * time.Minute),
		MaxSteps: 2, FailureAlertAfter: 2, FalsePositiveLimit: 3,
	}
	if !jsonEqual(t, p, want) {
		t.Fatalf("policy defaults:\n%+v\nwant\n%+v", p, want)
	}
	if !c.Automation.On() || time.Duration(*c.Reconcile.Interval) != time.Minute || c.Reconcile.Orphans != OrphanAdopt {
		t.Fatalf("operations defaults: automation %v, reconcile %+v", c.Automation.On(), c.Reconcile)
	}
	var nilCfg *ThrottleConfig
	nilCfg.applyDefaults()
	nilCfg.resolvePaths(func(*string) { t.Fatal("join on a nil section") })
	if errs := nilCfg.validate("throttle"); errs != nil {
		t.Fatalf("nil section: %v", errs)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestThrottleFullConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "gw.token", "s3cret")
	c, err := loadThrottle(t, `throttle:
  gateway:
    url: https://gw.internal
    timeout: 2s
    max_attempts: 4
    verify: gauge
    authorization: {credentials_file: gw.token}
  workers: 4
  rule: MyCPU
  action: {max_concurrency: 8, min_concurrency: 2, step_ratio: 0.25}
  ttl: 15m
  exempt:
    - {tenant_id: vip-*}
    - {plugin_id: "*-billing", instance_id: i1}
  overrides:
    - tenant_id: t1
      action: {max_concurrency_ratio: 0.25}
      ttl: 5m
  blast_radius: {max_instances: 50, max_plugin_ratio: 0.5}
  dry_run: true
`, filepath.Join(dir, "gw.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Gateway.Authorization.CredentialsFile; got != filepath.Join(dir, "gw.token") {
		t.Errorf("credentials_file not anchored at the config: %q", got)
	}
	if hc := c.Gateway.HTTPClientConfig(); hc.Authorization == nil || hc.Authorization.Type != "Bearer" {
		t.Errorf("client config %+v", hc.Authorization)
	}
	p := c.ThrottlePolicy
	if p.Rule != "MyCPU" || p.Action.MaxConcurrency != 8 || p.Action.MaxConcurrencyRatio != 0 || !p.DryRun ||
		p.BlastRadius.MaxInstances != 50 || p.Overrides[0].TenantID != "t1" || time.Duration(p.Overrides[0].TTL) != 5*time.Minute {
		t.Fatalf("policy %+v", p)
	}
	for _, tc := range []struct {
		m                        ThrottleMatch
		tenant, plugin, instance string
		want                     bool
	}{
		{p.Exempt[0], "vip-1", "any", "i9", true},
		{p.Exempt[0], "t1", "any", "i9", false},
		{p.Exempt[1], "t1", "t1-billing", "i1", true},
		{p.Exempt[1], "t1", "t1-billing", "i2", false},
	} {
		if got := tc.m.Matches(tc.tenant, tc.plugin, tc.instance); got != tc.want {
			t.Errorf("%+v matches %s/%s/%s = %v", tc.m, tc.tenant, tc.plugin, tc.instance, got)
		}
	}

	// The policy round-trips through the JSON the admin API and the store use.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ttl":"15m"`) {
		t.Errorf("durations are not written as in the file: %s", b)
	}
	var back ThrottlePolicy
	if err := json.Unmarshal(b, &back); err != nil || !jsonEqual(t, back, p) {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}

func TestThrottleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"no url", "throttle:\n  dry_run: true\n", []string{"f.yml:2:3: gateway url is required"}},
		{"bad url", "throttle:\n  gateway: {url: 'ftp://gw'}\n", []string{`f.yml:2:18: gateway url "ftp://gw" must be an http or https URL with a host`}},
		{"credentials in url", "throttle:\n  gateway: {url: 'http://u:hunter2@gw'}\n", []string{"f.yml:2:18: gateway url must not hold credentials"}},
		{"bad duration", "throttle:\n  gateway: {url: 'http://gw', timeout: -1s}\n", []string{"f.yml:2:40: invalid duration"}},
		{"gateway values", "throttle:\n  gateway: {url: 'http://gw', path: x, max_attempts: 11, verify: ping}\n  workers: 2000\n", []string{
			`f.yml:2:37: gateway path "x" must start with /`,
			"f.yml:2:54: gateway max_attempts must be between 1 and 10, got 11",
			`f.yml:2:66: gateway verify must be list, gauge or none, not "ping"`,
			"f.yml:3:12: workers must be between 1 and 1024, got 2000",
		}},
		{"two auths", "throttle:\n  gateway:\n    url: http://gw\n    basic_auth: {username: u, password: p}\n    authorization: {credentials: c}\n", []string{
			"f.yml:5:20: at most one of basic_auth and authorization may be set",
		}},
		{"action", "throttle:\n  gateway: {url: 'http://gw'}\n  action: {max_concurrency: 8, max_concurrency_ratio: 0.5}\n", []string{
			"f.yml:3:55: at most one of max_concurrency and max_concurrency_ratio may be set",
		}},
		{"ratio", "throttle:\n  gateway: {url: 'http://gw'}\n  action: {max_concurrency_ratio: 1.5, step_ratio: 1}\n", []string{
			"f.yml:3:35: max_concurrency_ratio must be in (0, 1), got 1.5",
			"f.yml:3:52: step_ratio must be in (0, 1), got 1",
		}},
		{"timings", "throttle:\n  gateway: {url: 'http://gw'}\n  ttl: 1m\n  renew_before: 2m\n  recovery_threshold: 1.2\n  max_steps: 0\n", []string{
			"f.yml:4:17: renew_before must be positive and less than ttl 1m",
			"f.yml:5:23: recovery_threshold is a CPU ratio in (0, 1], got 1.2",
		}},
		{"matches", "throttle:\n  gateway: {url: 'http://gw'}\n  exempt:\n    - {}\n    - {tenant_id: '['}\n  overrides:\n    - {plugin_id: p1, ttl: 1m, action: {max_concurrency: -1}}\n", []string{
			`f.yml:4:7: set at least one of tenant_id, plugin_id and instance_id ("*" matches all)`,
			`f.yml:5:19: tenant_id pattern "[": syntax error in pattern`,
			"f.yml:7:58: max_concurrency must be positive, got -1",
			"f.yml:7:28: ttl must be more than renew_before 2m and at most 30d",
		}},
		{"blast radius", "throttle:\n  gateway: {url: 'http://gw'}\n  blast_radius: {max_instances: -1, max_plugin_ratio: 50}\n  failure_alert_after: -1\n", []string{
			"f.yml:3:33: max_instances must not be negative (0: no cap)",
			"f.yml:3:55: max_plugin_ratio is a fraction in [0, 1] (0: no cap), got 50",
			"f.yml:4:24: failure_alert_after must be at least 1",
		}},
		{"unknown field", "throttle:\n  gateway: {url: 'http://gw'}\n  dryrun: true\n", []string{`f.yml:3:3: unknown field "dryrun"`}},
		{"reconcile", "throttle:\n  gateway: {url: 'http://gw'}\n  reconcile: {interval: 0s, orphans: keep}\n", []string{
			`f.yml:3:38: reconcile orphans must be adopt or release, not "keep"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadThrottle(t, tc.yml, "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("a password leaked into the error: %v", err)
			}
			expectErrors(t, err, tc.want)
		})
	}
}

func TestThrottlePolicyValidate(t *testing.T) {
	var p ThrottlePolicy
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	p.Action.MaxConcurrencyRatio = 2
	p.Exempt = []ThrottleMatch{{}}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "action.max_concurrency_ratio: max_concurrency_ratio must be in (0, 1), got 2") ||
		!strings.Contains(err.Error(), "exempt.0: set at least one") {
		t.Fatalf("Validate: %v", err)
	}
}
