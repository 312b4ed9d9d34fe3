package config

import (
	"time"

	"github.com/prometheus/alertmanager/timeinterval"

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
	// Cooldown is the default quiet time per (alert type, target) after a
	// notification; a change of severity or a resolution is not held back.
	Cooldown Duration `yaml:"cooldown"`
	// Language of the default templates: en or zh.
	Language string `yaml:"language"`
	// ExternalURL is gatewarden's own URL, for links in notifications.
	ExternalURL string      `yaml:"external_url"`
	Auth        *IngestAuth `yaml:"auth"`
	// MaxBodySize bounds an ingest request body.
	MaxBodySize Bytes `yaml:"max_body_size"`
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
}
