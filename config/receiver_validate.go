package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/receiver/email"
	"github.com/gatewarden/gatewarden/receiver/feishu"
	"github.com/gatewarden/gatewarden/receiver/webhook"
)

// applyDefaults sets the route timings on the root only: children inherit
// what they leave unset when receiver/route builds the tree, as in
// Alertmanager, so the file's own choices stay visible here.
func (c *ReceiverConfig) applyDefaults() {
	if c == nil {
		return
	}
	if r := c.Route; r != nil {
		setDefault(&r.GroupWait, DefaultGroupWait)
		setDefault(&r.GroupInterval, DefaultGroupInterval)
		setDefault(&r.RepeatInterval, DefaultRepeatInterval)
	}
	setDefault(&c.Cooldown, DefaultCooldown)
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = DefaultIngestBodySize
	}
	if c.LabelNameValidation == "" {
		c.LabelNameValidation = "legacy"
	}
	l := &c.Limits
	for _, d := range []struct {
		v   *int
		def int
	}{{&l.MaxAlerts, DefaultMaxAlerts}, {&l.MaxAggregationGroups, DefaultMaxAggregationGroups},
		{&l.MaxLabelsPerAlert, DefaultMaxLabelsPerAlert}, {&l.MaxSilences, DefaultMaxSilences}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if l.MaxAlertSize == 0 {
		l.MaxAlertSize = DefaultMaxAlertSize
	}
	if l.MaxAlertsSize == 0 {
		l.MaxAlertsSize = DefaultMaxAlertsSize
	}
	if l.MaxSilenceSize == 0 {
		l.MaxSilenceSize = DefaultMaxSilenceSize
	}
}

func setDefault(d **Duration, v time.Duration) {
	if *d == nil {
		x := Duration(v)
		*d = &x
	}
}

// resolvePaths anchors templates, auth files and the integrations' *_file
// secrets at the config's directory; join is the loader's.
func (c *ReceiverConfig) resolvePaths(join func(*string)) {
	if c == nil {
		return
	}
	for i := range c.Templates {
		join(&c.Templates[i])
	}
	if a := c.Auth; a != nil {
		join(&a.BearerTokenFile)
		if a.BasicAuth != nil {
			join(&a.BasicAuth.PasswordFile)
		}
	}
	for _, r := range c.Receivers {
		if r == nil {
			continue
		}
		for _, w := range r.WebhookConfigs {
			if w != nil {
				join(&w.URLFile)
				join(&w.SecretFile)
			}
		}
		for _, e := range r.EmailConfigs {
			if e != nil {
				e.ResolvePaths(join)
			}
		}
		for _, f := range r.FeishuConfigs {
			if f != nil {
				join(&f.URLFile)
				join(&f.SecretFile)
			}
		}
	}
}

// checker collects located errors under one section's path.
type checker struct {
	base []any
	errs []yamlfile.PathError
}

func (v *checker) add(msg string, path ...any) {
	v.errs = append(v.errs, yamlfile.At(msg, slices.Concat(v.base, path)...))
}

// validate checks what Alertmanager checks when it loads a config, with
// each problem at its line, and reads the auth secrets. Messages keep
// Alertmanager's wording where it has one, so they can be searched for.
func (c *ReceiverConfig) validate(path ...any) []yamlfile.PathError {
	if c == nil {
		return nil
	}
	v := &checker{base: path}
	receivers := v.receivers(c.Receivers)
	intervals := v.timeIntervals(c.TimeIntervals)
	if c.Route == nil {
		v.add("route is required")
	} else {
		v.route(c.Route, []any{"route"}, true, receivers, intervals)
	}
	for i, r := range c.InhibitRules {
		v.inhibitRule(r, "inhibit_rules", i)
	}
	for i, pattern := range c.Templates {
		if _, err := filepath.Match(pattern, ""); err != nil {
			v.add(fmt.Sprintf("invalid template pattern %q: %v", pattern, err), "templates", i)
		}
	}
	if c.Language != "en" && c.Language != "zh" {
		v.add(fmt.Sprintf("language must be en or zh, not %q", c.Language), "language")
	}
	if c.ExternalURL != "" {
		// Not quoted: a URL may carry credentials.
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			v.add("external_url must be an absolute http or https URL", "external_url")
		}
	}
	if c.Auth != nil {
		v.auth(c.Auth)
	}
	if c.LabelNameValidation != "legacy" && c.LabelNameValidation != "utf8" {
		v.add(fmt.Sprintf("label_name_validation must be legacy or utf8, not %q", c.LabelNameValidation), "label_name_validation")
	}
	l := c.Limits
	for _, lim := range []struct {
		key string
		n   int64
	}{{"max_alerts", int64(l.MaxAlerts)}, {"max_aggregation_groups", int64(l.MaxAggregationGroups)},
		{"max_alert_size", int64(l.MaxAlertSize)}, {"max_alerts_size", int64(l.MaxAlertsSize)}, {"max_labels_per_alert", int64(l.MaxLabelsPerAlert)},
		{"max_silences", int64(l.MaxSilences)}, {"max_silence_size", int64(l.MaxSilenceSize)}} {
		if lim.n < 0 {
			v.add(lim.key+" must be positive", "limits", lim.key)
		}
	}
	return v.errs
}

func (v *checker) receivers(rs []*Receiver) map[string]bool {
	names := map[string]bool{}
	for i, r := range rs {
		at := func(p ...any) []any { return slices.Concat([]any{"receivers", i}, p) }
		if r == nil {
			v.add("empty receiver", at()...)
			continue
		}
		switch {
		case r.Name == "":
			v.add("missing name in receiver", at()...)
		case names[r.Name]:
			v.add(fmt.Sprintf("receiver name %q is not unique", r.Name), at("name")...)
		}
		names[r.Name] = r.Name != ""
		for j, w := range r.WebhookConfigs {
			if w == nil {
				v.add("empty webhook config", at("webhook_configs", j)...)
				continue
			} else if err := w.Validate(); err != nil {
				v.integration(err, at("webhook_configs", j), nil)
			}
			v.files(at("webhook_configs", j), "url_file", w.URLFile, "secret_file", w.SecretFile)
		}
		for j, e := range r.EmailConfigs {
			if e == nil {
				v.add("empty email config", at("email_configs", j)...)
				continue
			} else if err := e.Validate(); err != nil {
				v.integration(err, at("email_configs", j), nil)
			}
			v.files(at("email_configs", j), "auth_password_file", e.AuthPasswordFile)
		}
		for j, f := range r.FeishuConfigs {
			if f == nil {
				v.add("empty feishu config", at("feishu_configs", j)...)
				continue
			} else if err := f.Validate(); err != nil {
				v.integration(err, at("feishu_configs", j), feishuKeys)
			}
			v.files(at("feishu_configs", j), "url_file", f.URLFile, "secret_file", f.SecretFile)
		}
		for j, ch := range r.Channels {
			if strings.TrimSpace(ch) == "" {
				v.add("empty channel name", at("channels", j)...)
			}
		}
	}
	return names
}

// integration reports an integration's own Validate errors at the field
// they name. webhook and email say it in FieldError paths; feishu's errors
// are plain, and start with the key they are about, which keys (its YAML
// keys) recognises. Anything else stays at the config's node.
func (v *checker) integration(err error, at []any, keys map[string]bool) {
	for _, e := range flatten(err) {
		var (
			we *webhook.FieldError
			ee *email.FieldError
			p  []any
		)
		switch {
		case errors.As(e, &we):
			for _, k := range we.Path {
				p = append(p, k)
			}
		case errors.As(e, &ee):
			p = ee.Path
		default:
			p = leadingField(e.Error(), keys)
		}
		v.add(e.Error(), slices.Concat(at, p)...)
	}
}

// files checks that each named *_file (key, path pairs) can be read now:
// the integrations read them at every send, so a rotated file takes
// effect without a reload, but one missing at load is a mistake to name
// now, not at the first notification.
func (v *checker) files(at []any, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := readable(pairs[i+1]); err != nil {
			v.add(fmt.Sprintf("%s: %v", pairs[i], err), slices.Concat(at, []any{pairs[i]})...)
		}
	}
}

// readable opens path for reading; "" (not set) is fine.
func readable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// flatten undoes errors.Join and webhook.FieldErrors, so that each problem
// is one located error.
func flatten(err error) []error {
	switch e := err.(type) {
	case webhook.FieldErrors:
		out := make([]error, len(e))
		for i, fe := range e {
			out[i] = fe
		}
		return out
	case interface{ Unwrap() []error }:
		var out []error
		for _, w := range e.Unwrap() {
			out = append(out, flatten(w)...)
		}
		return out
	}
	return []error{err}
}

var (
	feishuKeys   = yamlKeys(reflect.TypeFor[feishu.Config]())
	leadingKey   = regexp.MustCompile(`^([a-z_]+)(?:\[(\d+)\])?`)
	wildcardName = "..."
)

// leadingField is the path of the key (and index) a message starts with,
// such as mentions[2], or nil.
func leadingField(msg string, keys map[string]bool) []any {
	m := leadingKey.FindStringSubmatch(msg)
	if m == nil || !keys[m[1]] {
		return nil
	}
	if i, err := strconv.Atoi(m[2]); err == nil {
		return []any{m[1], i}
	}
	return []any{m[1]}
}

func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func (v *checker) timeIntervals(sets []*TimeIntervalSet) map[string]bool {
	names := map[string]bool{}
	for i, s := range sets {
		switch {
		case s == nil:
			v.add("empty time interval", "time_intervals", i)
		case s.Name == "":
			v.add("missing name in time interval", "time_intervals", i)
		case names[s.Name]:
			v.add(fmt.Sprintf("time interval %q is not unique", s.Name), "time_intervals", i, "name")
		default:
			names[s.Name] = true
		}
	}
	return names
}

func (v *checker) route(r *Route, path []any, root bool, receivers, intervals map[string]bool) {
	at := func(p ...any) []any { return slices.Concat(path, p) }
	if r == nil {
		v.add("empty route", path...)
		return
	}
	if root {
		v.rootRoute(r, at)
	}
	if r.Receiver != "" && !receivers[r.Receiver] {
		v.add(fmt.Sprintf("undefined receiver %q used in route", r.Receiver), at("receiver")...)
	}
	v.matchers(r.Matchers, at("matchers"))
	// Alertmanager takes classic label names only in match and match_re,
	// whatever its matcher parser.
	for _, name := range slices.Sorted(maps.Keys(r.Match)) {
		if !model.LegacyValidation.IsValidLabelName(name) {
			v.add(fmt.Sprintf("invalid label name %q: match takes classic names only, use matchers", name), at("match", name)...)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.MatchRE)) {
		if !model.LegacyValidation.IsValidLabelName(name) {
			v.add(fmt.Sprintf("invalid label name %q: match_re takes classic names only, use matchers", name), at("match_re", name)...)
		} else if _, err := regexp.Compile(anchor(r.MatchRE[name])); err != nil {
			v.add(fmt.Sprintf("invalid regex for %s: %v", name, err), at("match_re", name)...)
		}
	}
	v.groupBy(r.GroupBy, at("group_by"))
	if r.GroupInterval != nil && *r.GroupInterval <= 0 {
		v.add("group_interval must be greater than zero", at("group_interval")...)
	}
	if r.RepeatInterval != nil && *r.RepeatInterval <= 0 {
		v.add("repeat_interval must be greater than zero", at("repeat_interval")...)
	}
	for _, ti := range []struct {
		key   string
		names []string
	}{{"mute_time_intervals", r.MuteTimeIntervals}, {"active_time_intervals", r.ActiveTimeIntervals}} {
		for j, name := range ti.names {
			if !intervals[name] {
				v.add(fmt.Sprintf("undefined time interval %q used in route", name), at(ti.key, j)...)
			}
		}
	}
	for i, child := range r.Routes {
		v.route(child, at("routes", i), false, receivers, intervals)
	}
}

// rootRoute holds the root to Alertmanager's rules: it is the fallback
// every alert reaches, so it takes them all, always, and names where they
// go.
func (v *checker) rootRoute(r *Route, at func(...any) []any) {
	if r.Receiver == "" {
		v.add("root route must specify a default receiver", at()...)
	}
	for _, m := range []struct {
		key string
		n   int
	}{{"match", len(r.Match)}, {"match_re", len(r.MatchRE)}, {"matchers", len(r.Matchers)}} {
		if m.n > 0 {
			v.add("root route must not have any matchers", at(m.key)...)
			break
		}
	}
	if r.Continue {
		v.add("cannot have continue in root route", at("continue")...)
	}
	if len(r.MuteTimeIntervals) > 0 {
		v.add("root route must not have any mute time intervals", at("mute_time_intervals")...)
	}
	if len(r.ActiveTimeIntervals) > 0 {
		v.add("root route must not have any active time intervals", at("active_time_intervals")...)
	}
}

func (v *checker) matchers(lines []string, path []any) {
	for j, line := range lines {
		if _, err := ParseMatchers(line); err != nil {
			v.add("invalid matcher: "+err.Error(), slices.Concat(path, []any{j})...)
		}
	}
}

func (v *checker) groupBy(names []string, path []any) {
	seen := map[string]bool{}
	labels := 0
	for j, name := range names {
		switch {
		case name == wildcardName:
			continue
		case !model.UTF8Validation.IsValidLabelName(name):
			v.add(fmt.Sprintf("invalid label name %q in group_by list", name), slices.Concat(path, []any{j})...)
		case seen[name]:
			v.add(fmt.Sprintf("duplicated label %q in group_by", name), slices.Concat(path, []any{j})...)
		}
		seen[name] = true
		labels++
	}
	if labels > 0 && len(names) > labels {
		v.add("cannot have wildcard group_by (`...`) and other labels at the same time", path...)
	}
}

func (v *checker) inhibitRule(r *InhibitRule, path ...any) {
	at := func(p ...any) []any { return slices.Concat(path, p) }
	if r == nil {
		v.add("empty inhibit rule", path...)
		return
	}
	v.matchers(r.SourceMatchers, at("source_matchers"))
	v.matchers(r.TargetMatchers, at("target_matchers"))
	for j, name := range r.Equal {
		if !model.UTF8Validation.IsValidLabelName(name) {
			v.add(fmt.Sprintf("invalid label name %q in equal list", name), at("equal", j)...)
		}
	}
}
