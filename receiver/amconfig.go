package receiver

import (
	"bytes"

	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/config"
)

// secretToken is how Alertmanager shows a secret in its status config,
// and what its config loader takes back in a secret's place.
const secretToken = "<secret>"

// amConfig is the receiver section in Alertmanager's config shape, for
// GET /api/v2/status: amtool's `config routes` and Grafana load it with
// Alertmanager's own loader, which refuses unknown fields, so only what
// Alertmanager knows is written (no cooldown, feishu_configs, channels or
// templates), and every secret is secretToken. Settings are never copied
// in, only placeholders, so no secret can leak through a new field.
type amConfig struct {
	Route         *amRoute                  `yaml:"route"`
	InhibitRules  []*config.InhibitRule     `yaml:"inhibit_rules,omitempty"`
	Receivers     []amReceiver              `yaml:"receivers"`
	TimeIntervals []*config.TimeIntervalSet `yaml:"time_intervals,omitempty"`
}

type amRoute struct {
	Receiver            string            `yaml:"receiver,omitempty"`
	GroupBy             []string          `yaml:"group_by,omitempty"`
	Match               map[string]string `yaml:"match,omitempty"`
	MatchRE             map[string]string `yaml:"match_re,omitempty"`
	Matchers            []string          `yaml:"matchers,omitempty"`
	Continue            bool              `yaml:"continue,omitempty"`
	GroupWait           *config.Duration  `yaml:"group_wait,omitempty"`
	GroupInterval       *config.Duration  `yaml:"group_interval,omitempty"`
	RepeatInterval      *config.Duration  `yaml:"repeat_interval,omitempty"`
	MuteTimeIntervals   []string          `yaml:"mute_time_intervals,omitempty"`
	ActiveTimeIntervals []string          `yaml:"active_time_intervals,omitempty"`
	Routes              []*amRoute        `yaml:"routes,omitempty"`
}

type amReceiver struct {
	Name           string      `yaml:"name"`
	WebhookConfigs []amWebhook `yaml:"webhook_configs,omitempty"`
	EmailConfigs   []amEmail   `yaml:"email_configs,omitempty"`
}

type amWebhook struct {
	URL       string `yaml:"url"`
	MaxAlerts uint64 `yaml:"max_alerts,omitempty"`
}

type amEmail struct {
	To           string `yaml:"to"`
	From         string `yaml:"from,omitempty"`
	Smarthost    string `yaml:"smarthost,omitempty"`
	Hello        string `yaml:"hello,omitempty"`
	AuthUsername string `yaml:"auth_username,omitempty"`
	AuthPassword string `yaml:"auth_password,omitempty"`
	AuthIdentity string `yaml:"auth_identity,omitempty"`
	RequireTLS   *bool  `yaml:"require_tls,omitempty"`
}

// AlertmanagerYAML renders rc in Alertmanager's config shape.
func AlertmanagerYAML(rc *config.ReceiverConfig) (string, error) {
	c := amConfig{Route: amRouteOf(rc.Route), InhibitRules: rc.InhibitRules, TimeIntervals: rc.TimeIntervals}
	for _, r := range rc.Receivers {
		c.Receivers = append(c.Receivers, amReceiverOf(r))
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return "", err
	}
	return b.String(), enc.Close()
}

func amRouteOf(r *config.Route) *amRoute {
	if r == nil {
		return nil
	}
	out := &amRoute{Receiver: r.Receiver, GroupBy: r.GroupBy, Match: r.Match, MatchRE: r.MatchRE, Matchers: r.Matchers,
		Continue: r.Continue, GroupWait: r.GroupWait, GroupInterval: r.GroupInterval, RepeatInterval: r.RepeatInterval,
		MuteTimeIntervals: r.MuteTimeIntervals, ActiveTimeIntervals: r.ActiveTimeIntervals}
	for _, child := range r.Routes {
		out.Routes = append(out.Routes, amRouteOf(child))
	}
	return out
}

func amReceiverOf(r *config.Receiver) amReceiver {
	out := amReceiver{Name: r.Name}
	for _, w := range r.WebhookConfigs {
		out.WebhookConfigs = append(out.WebhookConfigs, amWebhook{URL: secretToken, MaxAlerts: w.MaxAlerts})
	}
	for _, e := range r.EmailConfigs {
		m := amEmail{To: e.To, From: e.From, Smarthost: e.Smarthost, Hello: e.Hello, AuthUsername: e.AuthUsername,
			AuthIdentity: e.AuthIdentity, RequireTLS: e.RequireTLS}
		if e.AuthPassword != "" || e.AuthPasswordFile != "" {
			m.AuthPassword = secretToken
		}
		out.EmailConfigs = append(out.EmailConfigs, m)
	}
	return out
}
