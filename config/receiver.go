package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/promslog"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"

	"github.com/gatewarden/gatewarden/receiver/email"
	"github.com/gatewarden/gatewarden/receiver/feishu"
	"github.com/gatewarden/gatewarden/receiver/webhook"
)

// Receiver defaults, Alertmanager's where it has one.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultCooldown       = time.Hour
	DefaultIngestBodySize = 16 << 20
	DefaultLanguage       = "en"
)

// ReceiverConfig is the in-process Alertmanager-style receiver, in
// Alertmanager's vocabulary so an alertmanager.yml pastes in with few
// changes. Left out, no receiver runs.
type ReceiverConfig struct {
	Route         *Route             `yaml:"route"`
	Receivers     []*Receiver        `yaml:"receivers"`
	InhibitRules  []*InhibitRule     `yaml:"inhibit_rules"`
	TimeIntervals []*TimeIntervalSet `yaml:"time_intervals"`
	Templates     []string           `yaml:"templates"`
	// Cooldown is the default quiet time after a notification of an
	// alert's firing before the same alert (the same label set) firing
	// again is notified to the same channel; a resolution is never held
	// back. Left out, it is DefaultCooldown; `0s` turns it off (a route's
	// or a rule's own cooldown still applies where set).
	Cooldown *Duration `yaml:"cooldown"`
	// Language of the default templates: en or zh.
	Language string `yaml:"language"`
	// ExternalURL is gatewarden's own URL, for links in notifications.
	ExternalURL string      `yaml:"external_url"`
	Auth        *IngestAuth `yaml:"auth"`
	// MaxBodySize bounds an ingest request body.
	MaxBodySize Bytes `yaml:"max_body_size"`
	// LabelNameValidation is how ingest checks label and annotation names:
	// legacy (Prometheus's classic [a-zA-Z_][a-zA-Z0-9_]*, the default) or
	// utf8 (any non-empty UTF-8, Alertmanager's default).
	LabelNameValidation string `yaml:"label_name_validation"`
	// Limits bound what ingest takes, so no sender can exhaust the daemon.
	Limits ReceiverLimits `yaml:"limits"`
}

// ReceiverLimits are the receiver's bounds, each answered with 429 and
// its name once reached (alerts already held are still delivered). Zero
// takes the default; the defaults keep a daemon under 512 MiB whatever it
// is sent (docs/receiver.md, Limits).
type ReceiverLimits struct {
	// MaxAlerts bounds the alerts firing at once.
	MaxAlerts int `yaml:"max_alerts"`
	// MaxAggregationGroups bounds the dispatcher's groups.
	MaxAggregationGroups int `yaml:"max_aggregation_groups"`
	// MaxAlertSize bounds one alert's label and annotation names and
	// values, in bytes.
	MaxAlertSize Bytes `yaml:"max_alert_size"`
	// MaxAlertsSize bounds the same bytes summed over the alerts firing
	// at once, as Mimir's alertmanager_max_alerts_size_bytes.
	MaxAlertsSize Bytes `yaml:"max_alerts_size"`
	// MaxLabelsPerAlert bounds one alert's labels.
	MaxLabelsPerAlert int `yaml:"max_labels_per_alert"`
	// MaxSilences bounds the active and pending silences, as
	// Alertmanager's --silences.max-silences.
	MaxSilences int `yaml:"max_silences"`
	// MaxSilenceSize bounds one silence's matchers, comment and author,
	// in bytes, as Alertmanager's --silences.max-silence-size-bytes.
	MaxSilenceSize Bytes `yaml:"max_silence_size"`
}

// Receiver limits' defaults.
const (
	DefaultMaxAlerts            = 50_000
	DefaultMaxAggregationGroups = 20_000
	DefaultMaxAlertSize         = 8 << 10
	DefaultMaxAlertsSize        = 32 << 20
	DefaultMaxLabelsPerAlert    = 64
	DefaultMaxSilences          = 10_000
	DefaultMaxSilenceSize       = 16 << 10
)

// CooldownOrDefault is the section's cooldown, DefaultCooldown if left out.
func (c *ReceiverConfig) CooldownOrDefault() time.Duration {
	if c.Cooldown == nil {
		return DefaultCooldown
	}
	return time.Duration(*c.Cooldown)
}

// Route is one node of the route tree, as Alertmanager's route.
type Route struct {
	Receiver string   `yaml:"receiver"`
	GroupBy  []string `yaml:"group_by"`
	// Matchers in Alertmanager's syntax (`severity=~"critical|warning"`).
	Matchers []string `yaml:"matchers"`
	// Match and MatchRE are Alertmanager's deprecated equality and regex
	// matchers, still common in existing files.
	Match               map[string]string `yaml:"match"`
	MatchRE             map[string]string `yaml:"match_re"`
	Continue            bool              `yaml:"continue"`
	Routes              []*Route          `yaml:"routes"`
	GroupWait           *Duration         `yaml:"group_wait"`
	GroupInterval       *Duration         `yaml:"group_interval"`
	RepeatInterval      *Duration         `yaml:"repeat_interval"`
	MuteTimeIntervals   []string          `yaml:"mute_time_intervals"`
	ActiveTimeIntervals []string          `yaml:"active_time_intervals"`
	// Cooldown overrides the receiver's default for alerts this route
	// takes (gatewarden's).
	Cooldown *Duration `yaml:"cooldown"`
}

// Receiver is a named set of integrations, as in Alertmanager, plus
// channels managed through the admin API, by name.
type Receiver struct {
	Name           string            `yaml:"name"`
	WebhookConfigs []*webhook.Config `yaml:"webhook_configs"`
	EmailConfigs   []*email.Config   `yaml:"email_configs"`
	FeishuConfigs  []*feishu.Config  `yaml:"feishu_configs"`
	Channels       []string          `yaml:"channels"`
}

// InhibitRule mutes target alerts while a source alert fires with the
// same values of the equal labels, as Alertmanager's.
type InhibitRule struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// TimeIntervalSet names time intervals for mute_time_intervals and
// active_time_intervals, with Alertmanager's own interval syntax.
type TimeIntervalSet struct {
	Name          string                      `yaml:"name"`
	TimeIntervals []timeinterval.TimeInterval `yaml:"time_intervals"`
}

// IngestAuth protects the ingest endpoints with what Alertmanager's and
// Prometheus's http_config send: a bearer token or basic auth.
type IngestAuth struct {
	BearerTokenFile string     `yaml:"bearer_token_file"`
	BasicAuth       *BasicAuth `yaml:"basic_auth"`

	// The secrets, read from their files at load so that a missing file
	// fails the load (or the reload) instead of locking senders out.
	token, password []byte
}

// parseMatchers is the parser the Alertmanager binary uses by default
// (neither classic nor utf8-strict mode): the classic pkg/labels parser,
// and the UTF-8 parser only for input the classic one rejects, so
// `"service.name"="api"` parses too. The library's own default is the
// classic parser alone, which would reject what alertmanager.yml accepts.
var parseMatchers = compat.FallbackMatchersParser(promslog.NewNopLogger())

// ParseMatchers parses one `matchers` entry (one or more comma-separated
// matchers) exactly as Alertmanager parses its config files.
func ParseMatchers(s string) (labels.Matchers, error) {
	return parseMatchers(s, "config")
}

// LabelMatchers returns the route's matchers as Alertmanager's dispatcher
// builds them: match as equality matchers, match_re as regex matchers
// anchored the way Alertmanager stores them (the value is "^(?:re)$", which
// shows in route keys), then matchers, sorted.
func (r *Route) LabelMatchers() (labels.Matchers, error) {
	var ms labels.Matchers
	for name, v := range r.Match {
		m, err := labels.NewMatcher(labels.MatchEqual, name, v)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	for name, re := range r.MatchRE {
		m, err := labels.NewMatcher(labels.MatchRegexp, name, anchor(re))
		if err != nil {
			return nil, fmt.Errorf("match_re %s: %w", name, err)
		}
		ms = append(ms, m)
	}
	parsed, err := parseMatcherList(r.Matchers)
	if err != nil {
		return nil, err
	}
	// Matchers.Less orders by name, value and type, so the map order
	// above does not show in the result.
	ms = append(ms, parsed...)
	sort.Sort(ms)
	return ms, nil
}

// LabelMatchers returns the rule's source and target matchers.
func (r *InhibitRule) LabelMatchers() (source, target labels.Matchers, err error) {
	if source, err = parseMatcherList(r.SourceMatchers); err != nil {
		return nil, nil, err
	}
	if target, err = parseMatcherList(r.TargetMatchers); err != nil {
		return nil, nil, err
	}
	return source, target, nil
}

// Intervals returns the named time intervals in the shape
// timeinterval.NewIntervener takes.
func (c *ReceiverConfig) Intervals() map[string][]timeinterval.TimeInterval {
	m := make(map[string][]timeinterval.TimeInterval, len(c.TimeIntervals))
	for _, s := range c.TimeIntervals {
		if s != nil {
			m[s.Name] = s.TimeIntervals
		}
	}
	return m
}

// anchor is what Alertmanager's match_re keeps as the matcher value.
func anchor(re string) string { return "^(?:" + re + ")$" }

func parseMatcherList(lines []string) (labels.Matchers, error) {
	var ms labels.Matchers
	for _, l := range lines {
		m, err := ParseMatchers(l)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m...)
	}
	return ms, nil
}

// Allows reports whether r carries the configured credentials. Without an
// auth section (a nil IngestAuth) every request is allowed, as
// Alertmanager's own API is open. Secrets are compared as SHA-256 digests
// in constant time, so neither the timing nor the length of a guess says
// anything about the secret.
func (a *IngestAuth) Allows(r *http.Request) bool {
	if a == nil {
		return true
	}
	if a.BasicAuth != nil {
		user, pass, ok := r.BasicAuth()
		// Both halves are always compared: which one was wrong stays hidden.
		u := secretEqual([]byte(user), []byte(a.BasicAuth.Username))
		p := secretEqual([]byte(pass), a.password)
		return ok && len(a.password) > 0 && u && p
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	// RFC 7235: the scheme name is case-insensitive.
	return ok && strings.EqualFold(scheme, "Bearer") && len(a.token) > 0 &&
		secretEqual([]byte(strings.TrimSpace(token)), a.token)
}

// Token returns the bearer token read from bearer_token_file, for clients
// such as gatewardenctl that post to the ingest API.
func (a *IngestAuth) Token() string { return string(a.token) }

// Password returns the basic auth password read from password_file.
func (a *IngestAuth) Password() string { return string(a.password) }

func secretEqual(presented, secret []byte) bool {
	x, y := sha256.Sum256(presented), sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// auth reads the secrets now, as the admin API's tokens: a missing or
// empty file fails the load rather than locking every sender out after a
// reload. A password inline is refused so the secret stays out of the
// config, as everywhere gatewarden checks a credential.
func (v *checker) auth(a *IngestAuth) {
	a.token, a.password = nil, nil
	switch {
	case a.BearerTokenFile != "" && a.BasicAuth != nil:
		v.add("auth: at most one of bearer_token_file and basic_auth may be set", "auth", "basic_auth")
	case a.BearerTokenFile != "":
		a.token = v.secretFile(a.BearerTokenFile, "bearer_token_file", "auth", "bearer_token_file")
	case a.BasicAuth != nil:
		b := a.BasicAuth
		if b.Username == "" {
			v.add("basic_auth username is required", "auth", "basic_auth")
		}
		switch {
		case b.Password != "":
			v.add("basic_auth password may not be written in the config: use password_file", "auth", "basic_auth", "password")
		case b.PasswordFile == "":
			v.add("basic_auth password_file is required", "auth", "basic_auth")
		default:
			a.password = v.secretFile(b.PasswordFile, "password_file", "auth", "basic_auth", "password_file")
		}
	default:
		v.add("auth needs bearer_token_file or basic_auth", "auth")
	}
}

// secretFile reads a secret; its errors name the file, never its content.
func (v *checker) secretFile(file, key string, path ...any) []byte {
	b, err := os.ReadFile(file)
	if err != nil {
		v.add(fmt.Sprintf("%s: %v", key, err), path...)
		return nil
	}
	s := []byte(strings.TrimSpace(string(b)))
	if len(s) == 0 {
		v.add(fmt.Sprintf("%s %s is empty", key, file), path...)
		return nil
	}
	return s
}

// UnmarshalYAML decodes the set field by field. Alertmanager's interval
// types unmarshal yaml.v2-style and fail with plain errors, which make
// yaml.v3 abort the whole file with neither line nor column and drop every
// other problem found so far. Decoding each value on its own node keeps the
// position, goes on after a bad value and still rejects unknown keys
// (Node.Decode alone would not: it ignores KnownFields).
func (s *TimeIntervalSet) UnmarshalYAML(n *yaml.Node) error {
	var errs []string
	forEachField(n, &errs, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			decodeAt(v, &s.Name, &errs)
		case "time_intervals":
			if v = deref(v); v.Kind != yaml.SequenceNode {
				decodeAt(v, &s.TimeIntervals, &errs)
				return
			}
			for _, e := range v.Content {
				s.TimeIntervals = append(s.TimeIntervals, decodeTimeInterval(e, &errs))
			}
		default:
			errs = append(errs, unknownField(k))
		}
	})
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// timeIntervalFields maps TimeInterval's YAML keys to its fields, so a
// field Alertmanager adds is decoded without a change here.
var timeIntervalFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[timeinterval.TimeInterval]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}()

// timeRangeKeys are the keys of a `times` entry (timeinterval's
// unexported yamlTimeRange).
var timeRangeKeys = map[string]bool{"start_time": true, "end_time": true}

func decodeTimeInterval(n *yaml.Node, errs *[]string) timeinterval.TimeInterval {
	var ti timeinterval.TimeInterval
	fields := reflect.ValueOf(&ti).Elem()
	forEachField(n, errs, func(k, v *yaml.Node) {
		i, ok := timeIntervalFields[k.Value]
		if !ok {
			*errs = append(*errs, unknownField(k))
			return
		}
		f := fields.Field(i)
		if v = deref(v); f.Kind() != reflect.Slice || v.Kind != yaml.SequenceNode {
			decodeAt(v, f.Addr().Interface(), errs)
			return
		}
		// One element at a time, so the error points at the bad one.
		for _, e := range v.Content {
			if k.Value == "times" {
				forEachField(e, errs, func(tk, _ *yaml.Node) {
					if !timeRangeKeys[tk.Value] {
						*errs = append(*errs, unknownField(tk))
					}
				})
			}
			elem := reflect.New(f.Type().Elem())
			if decodeAt(e, elem.Interface(), errs) {
				f.Set(reflect.Append(f, elem.Elem()))
			}
		}
	})
	return ti
}

// forEachField calls fn for each key and value of the mapping n, and
// reports n itself when it is not a mapping.
func forEachField(n *yaml.Node, errs *[]string, fn func(k, v *yaml.Node)) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() != "!!null" {
			*errs = append(*errs, nodeMessage(n, "expected a mapping"))
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		fn(n.Content[i], n.Content[i+1])
	}
}

// decodeAt decodes n into v, turning a plain error into a located one.
func decodeAt(n *yaml.Node, v any, errs *[]string) bool {
	err := n.Decode(v)
	if te, ok := err.(*yaml.TypeError); ok {
		*errs = append(*errs, te.Errors...)
	} else if err != nil {
		*errs = append(*errs, nodeMessage(n, "%v", err))
	}
	return err == nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// unknownField says what the strict decoder says, where it says it.
func unknownField(k *yaml.Node) string { return nodeMessage(k, "unknown field %q", k.Value) }

// nodeMessage is one located message in the form yamlfile turns into
// file:line:column.
func nodeMessage(n *yaml.Node, format string, args ...any) string {
	if te, ok := yamlfile.NodeError(n, format, args...).(*yaml.TypeError); ok && len(te.Errors) == 1 {
		return te.Errors[0]
	}
	return fmt.Sprintf(format, args...)
}
