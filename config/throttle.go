package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Throttle defaults. The timings follow the operations use case: CPU back
// under 70 % within two minutes of the throttle, so both the stable window
// and the wait before the next step are two minutes; a TTL of several
// stable windows means a healthy controller always releases before the
// gateway would, and a dead one cannot leave a plugin throttled for long.
const (
	DefaultThrottleRule              = "PluginCPUHigh"
	DefaultThrottleTimeout           = 5 * time.Second
	DefaultThrottleMaxAttempts       = 3
	DefaultThrottleRetryBackoff      = 500 * time.Millisecond
	DefaultThrottleVerifyTimeout     = 5 * time.Second
	DefaultThrottleWorkers           = 8
	DefaultThrottleTTL               = 10 * time.Minute
	DefaultThrottleRenewBefore       = 2 * time.Minute
	DefaultThrottleRecovery          = 0.7
	DefaultThrottleStableWindow      = 2 * time.Minute
	DefaultThrottleEscalateAfter     = 2 * time.Minute
	DefaultThrottleMaxSteps          = 2
	DefaultThrottleRatio             = 0.5
	DefaultThrottleFailureAlertAfter = 2
	DefaultThrottleFalsePositives    = 3
	DefaultThrottlePath              = "/internal/gateway/throttle"
	DefaultThrottleReconcile         = time.Minute
)

// What reconcile does with a throttle in force at the gateway that came
// from one of gatewarden's own calls but that gatewarden does not manage
// (an apply that timed out, then took effect).
const (
	OrphanAdopt   = "adopt"   // manage it from then on, released as usual
	OrphanRelease = "release" // restore the limit before it at once
)

// Throttle verification methods.
const (
	VerifyList  = "list"  // GET the gateway's throttle list
	VerifyGauge = "gauge" // read gateway_plugin_max_concurrency
	VerifyNone  = "none"  // trust the PATCH answer
)

// ThrottleConfig is the auto-throttle: how to reach the gateway, and the
// policy, which the admin API may replace at run time (the policy fields
// are inline, so the file and the API's JSON have one schema). Left out,
// no throttle runs.
type ThrottleConfig struct {
	Gateway ThrottleGateway `yaml:"gateway"`
	// Workers bound the gateway calls in flight at once.
	Workers int `yaml:"workers"`
	// Automation is the kill switch's default: false starts with the
	// automation off (anomalies are alerts only). The admin API's setting,
	// kept in the store, wins over it.
	Automation     ThrottleAutomation `yaml:"automation"`
	Reconcile      ThrottleReconcile  `yaml:"reconcile"`
	ThrottlePolicy `yaml:",inline"`
}

// ThrottleAutomation is the kill switch's default.
type ThrottleAutomation struct {
	Enabled *bool `yaml:"enabled"`
}

// On is the default with the section left out: on.
func (a ThrottleAutomation) On() bool { return a.Enabled == nil || *a.Enabled }

// ThrottleReconcile compares the gateway's throttle list with gatewarden's
// state every Interval (0s: only on demand).
type ThrottleReconcile struct {
	Interval *Duration `yaml:"interval"`
	Orphans  string    `yaml:"orphans"`
}

// ThrottleGateway is the gateway's throttle endpoint and how it is called.
type ThrottleGateway struct {
	// URL is the gateway's base URL; Path is appended to it.
	URL  string `yaml:"url"`
	Path string `yaml:"path"`
	// Timeout bounds one attempt; MaxAttempts counts the first.
	Timeout       Duration       `yaml:"timeout"`
	MaxAttempts   int            `yaml:"max_attempts"`
	RetryBackoff  Duration       `yaml:"retry_backoff"`
	Verify        string         `yaml:"verify"`
	VerifyTimeout Duration       `yaml:"verify_timeout"`
	BasicAuth     *BasicAuth     `yaml:"basic_auth"`
	Authorization *Authorization `yaml:"authorization"`
	TLSConfig     TLSConfig      `yaml:"tls_config"`
}

// HTTPClientConfig translates auth and TLS as every client of the config
// does, so credentials_file and password_file are re-read per request.
func (g *ThrottleGateway) HTTPClientConfig() commoncfg.HTTPClientConfig {
	return httpClientConfig(g.BasicAuth, g.Authorization, g.TLSConfig)
}

// Endpoint is URL joined with Path.
func (g *ThrottleGateway) Endpoint() string {
	return strings.TrimSuffix(g.URL, "/") + g.Path
}

// ThrottlePolicy decides whether, how hard and how long an anomalous plugin
// instance is throttled. It has JSON tags because the admin API edits it
// and the store keeps it as JSON; durations are written as in the file.
type ThrottlePolicy struct {
	// Rule is the alert whose firing starts a throttle.
	Rule   string         `yaml:"rule" json:"rule"`
	Action ThrottleAction `yaml:"action" json:"action"`
	// TTL is the lifetime the gateway gives a throttle; RenewBefore its
	// renewal ahead of expiry while the instance has not recovered.
	TTL         Duration `yaml:"ttl" json:"ttl"`
	RenewBefore Duration `yaml:"renew_before" json:"renew_before"`
	// The throttle is released once the instance's CPU stays under
	// RecoveryThreshold for StableWindow.
	RecoveryThreshold float64  `yaml:"recovery_threshold" json:"recovery_threshold"`
	StableWindow      Duration `yaml:"stable_window" json:"stable_window"`
	// EscalateAfter is how long a throttled instance may stay at or above
	// the recovery threshold before the next step: a lower limit while
	// steps remain (MaxSteps counts the first), then a manual-handling alert.
	EscalateAfter Duration `yaml:"escalate_after" json:"escalate_after"`
	MaxSteps      int      `yaml:"max_steps" json:"max_steps"`
	// Exempt instances are alerted on and never throttled.
	Exempt []ThrottleMatch `yaml:"exempt" json:"exempt,omitempty"`
	// Overrides change the action (and TTL) per tenant, plugin or
	// instance; the first that matches applies.
	Overrides   []ThrottleOverride  `yaml:"overrides" json:"overrides,omitempty"`
	BlastRadius ThrottleBlastRadius `yaml:"blast_radius" json:"blast_radius"`
	// DryRun decides, audits and alerts, but calls no gateway.
	DryRun bool `yaml:"dry_run" json:"dry_run"`
	// FailureAlertAfter consecutive failed attempts on one instance raise
	// a level-1 (critical) alert.
	FailureAlertAfter int `yaml:"failure_alert_after" json:"failure_alert_after"`
	// More than FalsePositiveLimit decisions marked false positive within
	// a day raise a governance alert.
	FalsePositiveLimit int `yaml:"false_positive_limit" json:"false_positive_limit"`
}

// ThrottleAction is the limit a throttle sets: an absolute max_concurrency,
// or a ratio of the instance's current gateway_plugin_max_concurrency.
// StepRatio lowers the limit at each further step.
type ThrottleAction struct {
	MaxConcurrency      int     `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
	MaxConcurrencyRatio float64 `yaml:"max_concurrency_ratio,omitempty" json:"max_concurrency_ratio,omitempty"`
	MinConcurrency      int     `yaml:"min_concurrency,omitempty" json:"min_concurrency,omitempty"`
	StepRatio           float64 `yaml:"step_ratio,omitempty" json:"step_ratio,omitempty"`
}

// ThrottleMatch selects instances by path.Match globs; an empty field
// matches anything.
type ThrottleMatch struct {
	TenantID   string `yaml:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	PluginID   string `yaml:"plugin_id,omitempty" json:"plugin_id,omitempty"`
	InstanceID string `yaml:"instance_id,omitempty" json:"instance_id,omitempty"`
}

// Matches reports whether the instance matches every set glob.
func (m ThrottleMatch) Matches(tenant, plugin, instance string) bool {
	for _, p := range [...][2]string{{m.TenantID, tenant}, {m.PluginID, plugin}, {m.InstanceID, instance}} {
		if ok, _ := path.Match(p[0], p[1]); p[0] != "" && !ok {
			return false
		}
	}
	return true
}

// ThrottleOverride replaces the action, and optionally the TTL, for the
// instances it matches. Fields of Action left out keep the policy's.
type ThrottleOverride struct {
	ThrottleMatch `yaml:",inline"`
	Action        ThrottleAction `yaml:"action" json:"action"`
	TTL           Duration       `yaml:"ttl,omitempty" json:"ttl,omitempty"`
}

// ThrottleBlastRadius caps how much one bad metric or rule can throttle:
// at most MaxInstances throttled at once, and at most MaxPluginRatio
// (0.5 = 50 %) of one plugin's instances, yet always one. Zero is no cap.
type ThrottleBlastRadius struct {
	MaxInstances   int     `yaml:"max_instances" json:"max_instances,omitempty"`
	MaxPluginRatio float64 `yaml:"max_plugin_ratio" json:"max_plugin_ratio,omitempty"`
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// applyDefaults fills what was left out; nil-safe, as the section is
// optional.
func (c *ThrottleConfig) applyDefaults() {
	if c == nil {
		return
	}
	g := &c.Gateway
	if g.Path == "" {
		g.Path = DefaultThrottlePath
	}
	setDuration(&g.Timeout, DefaultThrottleTimeout)
	setInt(&g.MaxAttempts, DefaultThrottleMaxAttempts)
	setDuration(&g.RetryBackoff, DefaultThrottleRetryBackoff)
	if g.Verify == "" {
		g.Verify = VerifyList
	}
	setDuration(&g.VerifyTimeout, DefaultThrottleVerifyTimeout)
	setInt(&c.Workers, DefaultThrottleWorkers)
	if c.Reconcile.Interval == nil {
		d := Duration(DefaultThrottleReconcile)
		c.Reconcile.Interval = &d
	}
	if c.Reconcile.Orphans == "" {
		c.Reconcile.Orphans = OrphanAdopt
	}
	c.ThrottlePolicy.ApplyDefaults()
}

// ApplyDefaults fills what was left out of a policy: the loader's hook,
// and the admin API's for a policy sent as JSON.
func (p *ThrottlePolicy) ApplyDefaults() {
	if p.Rule == "" {
		p.Rule = DefaultThrottleRule
	}
	a := &p.Action
	if a.MaxConcurrency == 0 && a.MaxConcurrencyRatio == 0 {
		a.MaxConcurrencyRatio = DefaultThrottleRatio
	}
	setInt(&a.MinConcurrency, 1)
	if a.StepRatio == 0 {
		a.StepRatio = cmpOr(a.MaxConcurrencyRatio, DefaultThrottleRatio)
	}
	setDuration(&p.TTL, DefaultThrottleTTL)
	setDuration(&p.RenewBefore, DefaultThrottleRenewBefore)
	if p.RecoveryThreshold == 0 {
		p.RecoveryThreshold = DefaultThrottleRecovery
	}
	setDuration(&p.StableWindow, DefaultThrottleStableWindow)
	setDuration(&p.EscalateAfter, DefaultThrottleEscalateAfter)
	setInt(&p.MaxSteps, DefaultThrottleMaxSteps)
	setInt(&p.FailureAlertAfter, DefaultThrottleFailureAlertAfter)
	setInt(&p.FalsePositiveLimit, DefaultThrottleFalsePositives)
}

func cmpOr(v, def float64) float64 {
	if v != 0 {
		return v
	}
	return def
}

func (c *ThrottleConfig) resolvePaths(join func(*string)) {
	if c == nil {
		return
	}
	g := &c.Gateway
	resolveClientPaths(join, g.BasicAuth, g.Authorization, &g.TLSConfig)
}

// validate checks the section; path is where it sits in the file.
func (c *ThrottleConfig) validate(p ...any) []yamlfile.PathError {
	if c == nil {
		return nil
	}
	var errs []yamlfile.PathError
	at := func(q ...any) []any { return slices.Concat(p, q) }
	add := func(msg string, q ...any) { errs = append(errs, yamlfile.At(msg, at(q...)...)) }
	g := &c.Gateway
	if u, err := url.Parse(g.URL); g.URL == "" {
		add("gateway url is required", "gateway")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(fmt.Sprintf("gateway url %q must be an http or https URL with a host", g.URL), "gateway", "url")
	} else if u.User != nil {
		add("gateway url must not hold credentials: use basic_auth or authorization", "gateway", "url")
	}
	if !strings.HasPrefix(g.Path, "/") {
		add(fmt.Sprintf("gateway path %q must start with /", g.Path), "gateway", "path")
	}
	if g.Timeout <= 0 {
		add("gateway timeout must be positive", "gateway", "timeout")
	}
	if g.MaxAttempts < 1 || g.MaxAttempts > 10 {
		add(fmt.Sprintf("gateway max_attempts must be between 1 and 10, got %d", g.MaxAttempts), "gateway", "max_attempts")
	}
	if g.RetryBackoff < 0 {
		add("gateway retry_backoff must not be negative", "gateway", "retry_backoff")
	}
	if g.Verify != VerifyList && g.Verify != VerifyGauge && g.Verify != VerifyNone {
		add(fmt.Sprintf("gateway verify must be %s, %s or %s, not %q", VerifyList, VerifyGauge, VerifyNone, g.Verify), "gateway", "verify")
	}
	if g.VerifyTimeout <= 0 {
		add("gateway verify_timeout must be positive", "gateway", "verify_timeout")
	}
	errs = append(errs, validClient(g.BasicAuth, g.Authorization, g.TLSConfig, func(q ...any) []any { return at(append([]any{"gateway"}, q...)...) })...)
	if c.Workers < 1 || c.Workers > 1024 {
		add(fmt.Sprintf("workers must be between 1 and 1024, got %d", c.Workers), "workers")
	}
	if o := c.Reconcile.Orphans; o != OrphanAdopt && o != OrphanRelease {
		add(fmt.Sprintf("reconcile orphans must be %s or %s, not %q", OrphanAdopt, OrphanRelease, o), "reconcile", "orphans")
	}
	return append(errs, c.ThrottlePolicy.validate(p...)...)
}

// Validate checks a policy given at run time, after ApplyDefaults; the
// errors name the offending field as a dotted path.
func (p *ThrottlePolicy) Validate() error {
	var msgs []error
	for _, e := range p.validate() {
		where := make([]string, len(e.Path))
		for i, s := range e.Path {
			where[i] = fmt.Sprint(s)
		}
		msgs = append(msgs, fmt.Errorf("%s: %s", strings.Join(where, "."), e.Msg))
	}
	return errors.Join(msgs...)
}

func (p *ThrottlePolicy) validate(base ...any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, q ...any) { errs = append(errs, yamlfile.At(msg, slices.Concat(base, q)...)) }
	if p.Rule == "" {
		add("rule is required", "rule")
	}
	errs = append(errs, p.Action.validate(false, slices.Concat(base, []any{"action"}))...)
	if p.TTL <= 0 || time.Duration(p.TTL) > 30*24*time.Hour {
		add("ttl must be positive and at most 30d", "ttl")
	}
	if p.RenewBefore <= 0 || p.RenewBefore >= p.TTL {
		add(fmt.Sprintf("renew_before must be positive and less than ttl %s", p.TTL), "renew_before")
	}
	if p.RecoveryThreshold <= 0 || p.RecoveryThreshold > 1 {
		add(fmt.Sprintf("recovery_threshold is a CPU ratio in (0, 1], got %g", p.RecoveryThreshold), "recovery_threshold")
	}
	if p.StableWindow <= 0 {
		add("stable_window must be positive", "stable_window")
	}
	if p.EscalateAfter <= 0 {
		add("escalate_after must be positive", "escalate_after")
	}
	if p.MaxSteps < 1 || p.MaxSteps > 10 {
		add(fmt.Sprintf("max_steps must be between 1 and 10, got %d", p.MaxSteps), "max_steps")
	}
	for i, m := range p.Exempt {
		errs = append(errs, m.validate(true, slices.Concat(base, []any{"exempt", i}))...)
	}
	for i, o := range p.Overrides {
		q := slices.Concat(base, []any{"overrides", i})
		errs = append(errs, o.ThrottleMatch.validate(true, q)...)
		errs = append(errs, o.Action.validate(true, append(q, "action"))...)
		if o.TTL < 0 || time.Duration(o.TTL) > 30*24*time.Hour || o.TTL != 0 && o.TTL <= p.RenewBefore {
			add(fmt.Sprintf("ttl must be more than renew_before %s and at most 30d", p.RenewBefore), "overrides", i, "ttl")
		}
	}
	b := p.BlastRadius
	if b.MaxInstances < 0 {
		add("max_instances must not be negative (0: no cap)", "blast_radius", "max_instances")
	}
	if b.MaxPluginRatio < 0 || b.MaxPluginRatio > 1 {
		add(fmt.Sprintf("max_plugin_ratio is a fraction in [0, 1] (0: no cap), got %g", b.MaxPluginRatio), "blast_radius", "max_plugin_ratio")
	}
	if p.FailureAlertAfter < 1 {
		add("failure_alert_after must be at least 1", "failure_alert_after")
	}
	if p.FalsePositiveLimit < 0 {
		add("false_positive_limit must not be negative", "false_positive_limit")
	}
	return errs
}

// validate checks an action; partial (an override's) may leave the limit
// out to keep the policy's.
func (a *ThrottleAction) validate(partial bool, p []any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, q ...any) { errs = append(errs, yamlfile.At(msg, slices.Concat(p, q)...)) }
	switch {
	case a.MaxConcurrency != 0 && a.MaxConcurrencyRatio != 0:
		add("at most one of max_concurrency and max_concurrency_ratio may be set", "max_concurrency_ratio")
	case a.MaxConcurrency < 0:
		add(fmt.Sprintf("max_concurrency must be positive, got %d", a.MaxConcurrency), "max_concurrency")
	case a.MaxConcurrencyRatio < 0 || a.MaxConcurrencyRatio >= 1:
		add(fmt.Sprintf("max_concurrency_ratio must be in (0, 1), got %g", a.MaxConcurrencyRatio), "max_concurrency_ratio")
	case !partial && a.MaxConcurrency == 0 && a.MaxConcurrencyRatio == 0:
		add("one of max_concurrency and max_concurrency_ratio is required")
	}
	if a.MinConcurrency < 0 || !partial && a.MinConcurrency < 1 {
		add(fmt.Sprintf("min_concurrency must be at least 1, got %d", a.MinConcurrency), "min_concurrency")
	}
	if a.MaxConcurrency > 0 && a.MinConcurrency > a.MaxConcurrency {
		add(fmt.Sprintf("min_concurrency %d is above max_concurrency %d", a.MinConcurrency, a.MaxConcurrency), "min_concurrency")
	}
	if a.StepRatio < 0 || a.StepRatio >= 1 || !partial && a.StepRatio == 0 {
		add(fmt.Sprintf("step_ratio must be in (0, 1), got %g", a.StepRatio), "step_ratio")
	}
	return errs
}

// validate checks the globs; an exempt entry or override matching every
// instance must say so with "*", so a forgotten field is not a blanket.
func (m ThrottleMatch) validate(needOne bool, p []any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	for _, f := range [...][2]string{{"tenant_id", m.TenantID}, {"plugin_id", m.PluginID}, {"instance_id", m.InstanceID}} {
		if _, err := path.Match(f[1], ""); err != nil {
			errs = append(errs, yamlfile.At(fmt.Sprintf("%s pattern %q: %v", f[0], f[1], err), slices.Concat(p, []any{f[0]})...))
		}
	}
	if needOne && m == (ThrottleMatch{}) {
		errs = append(errs, yamlfile.At("set at least one of tenant_id, plugin_id and instance_id (\"*\" matches all)", p...))
	}
	return errs
}
