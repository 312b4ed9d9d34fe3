package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/receiver/email"
	"github.com/gatewarden/gatewarden/receiver/feishu"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
	"github.com/gatewarden/gatewarden/receiver/webhook"
	"github.com/gatewarden/gatewarden/store"
)

// ChannelStore is the channel table, where the configured integrations are
// registered so history and the outbox can name them.
type ChannelStore interface {
	ListChannels(ctx context.Context) ([]store.Channel, error)
	CreateChannel(ctx context.Context, c store.Channel) (store.Channel, error)
	UpdateChannel(ctx context.Context, c store.Channel) (store.Channel, error)
}

// configRef marks a channel row that stands for an integration of the
// config file: the row names it, the file holds its settings (and
// secrets), which never enter the database.
type configRef struct {
	ConfigRef string `json:"config_ref"`
	ManagedBy string `json:"managed_by"`
}

// integration is one configured delivery integration by its channel name.
type integration struct {
	name, typ string
	build     func(*templates.Templates, *Integrations) (message.Notifier, error)
}

func integrations(r *config.Receiver) []integration {
	var out []integration
	for i, c := range r.WebhookConfigs {
		out = append(out, integration{fmt.Sprintf("%s/webhook/%d", r.Name, i), "webhook",
			func(t *templates.Templates, in *Integrations) (message.Notifier, error) {
				return webhook.New(c, t, in.Client)
			}})
	}
	for i, c := range r.EmailConfigs {
		out = append(out, integration{fmt.Sprintf("%s/email/%d", r.Name, i), "email",
			func(t *templates.Templates, _ *Integrations) (message.Notifier, error) { return email.New(c, t) }})
	}
	for i, c := range r.FeishuConfigs {
		out = append(out, integration{fmt.Sprintf("%s/feishu/%d", r.Name, i), "feishu",
			func(t *templates.Templates, in *Integrations) (message.Notifier, error) {
				return feishu.New(c, t, in.Client)
			}})
	}
	return out
}

// BuildPlan turns the receiver section into the dispatcher's plan: it
// builds the configured integrations, registers each as a channel row
// (named receiver/type/index), resolves the API-managed channels receivers
// name, and compiles inhibit rules and time intervals.
func BuildPlan(ctx context.Context, cfg *config.ReceiverConfig, router Router, cs ChannelStore, in *Integrations, muters []Muter) (*Plan, error) {
	tmpl, err := templates.New(cfg.Templates...)
	if err != nil {
		return nil, err
	}
	existing, err := cs.ListChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading channels: %w", err)
	}
	byName := map[string]store.Channel{}
	for _, c := range existing {
		byName[c.Name] = c
	}
	built := map[string]message.Notifier{}
	targets := map[string][]Target{}
	for _, r := range cfg.Receivers {
		for _, it := range integrations(r) {
			n, err := it.build(tmpl, in)
			if err != nil {
				return nil, fmt.Errorf("receiver %s: %w", it.name, err)
			}
			c, err := registerChannel(ctx, cs, byName, it)
			if err != nil {
				return nil, err
			}
			built[it.name] = n
			targets[r.Name] = append(targets[r.Name], Target{ChannelID: c.ID, Name: it.name})
		}
		for _, name := range r.Channels {
			c, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("receiver %s: no channel named %q (create it with POST /admin/alert-channels)", r.Name, name)
			}
			if c.Enabled {
				targets[r.Name] = append(targets[r.Name], Target{ChannelID: c.ID, Name: name})
			}
		}
	}
	in.setConfigured(built, tmpl)
	p := &Plan{Router: router, Muters: muters, ExternalURL: strings.TrimSuffix(cfg.ExternalURL, "/"), Language: cfg.Language,
		Targets: func(r string) []Target { return targets[r] }}
	for i, ir := range cfg.InhibitRules {
		src, tgt, err := ir.LabelMatchers()
		if err != nil {
			return nil, fmt.Errorf("inhibit rule %d: %w", i, err)
		}
		inh := Inhibition{Source: src, Target: tgt}
		for _, e := range ir.Equal {
			inh.Equal = append(inh.Equal, model.LabelName(e))
		}
		p.Inhibit = append(p.Inhibit, inh)
	}
	iv := timeinterval.NewIntervener(cfg.Intervals())
	p.Muted = mutedByIntervals(iv)
	p.MutedBy = func(t Timing, now time.Time) []string {
		names, _ := mutingIntervals(iv, t, now)
		return names
	}
	return p, nil
}

// registerChannel creates or refreshes the row of a configured integration.
func registerChannel(ctx context.Context, cs ChannelStore, byName map[string]store.Channel, it integration) (store.Channel, error) {
	ref, _ := json.Marshal(configRef{ConfigRef: it.name, ManagedBy: "config"})
	c, ok := byName[it.name]
	switch {
	case !ok:
		created, err := cs.CreateChannel(ctx, store.Channel{Name: it.name, Type: it.typ, Config: ref, Enabled: true})
		if errors.Is(err, store.ErrConflict) { // another receiver on the store made it first
			list, lerr := cs.ListChannels(ctx)
			for _, l := range list {
				if l.Name == it.name {
					return l, nil
				}
			}
			return created, errors.Join(err, lerr)
		}
		return created, err
	case c.Type != it.typ || string(c.Config) != string(ref):
		c.Type, c.Config, c.Enabled = it.typ, ref, true
		return cs.UpdateChannel(ctx, c)
	}
	return c, nil
}

// mutedByIntervals applies a route's mute_time_intervals and
// active_time_intervals with Alertmanager's own interval logic, naming the
// interval that mutes.
func mutedByIntervals(iv *timeinterval.Intervener) func(Timing, time.Time) string {
	return func(t Timing, now time.Time) string {
		names, outside := mutingIntervals(iv, t, now)
		switch {
		case outside:
			return "outside active time interval " + strings.Join(names, ", ")
		case len(names) > 0:
			return "muted by time interval " + strings.Join(names, ", ")
		}
		return ""
	}
}

// mutingIntervals names the intervals that mute a route now: its
// mute_time_intervals in force, or else all its active_time_intervals
// when now is outside them (outside), as Alertmanager's mutedBy names them.
func mutingIntervals(iv *timeinterval.Intervener, t Timing, now time.Time) (names []string, outside bool) {
	if len(t.MuteTimeIntervals) > 0 {
		if muted, names, err := iv.Mutes(t.MuteTimeIntervals, now); err == nil && muted {
			return names, false
		}
	}
	if len(t.ActiveTimeIntervals) > 0 {
		if active, _, err := iv.Mutes(t.ActiveTimeIntervals, now); err == nil && !active {
			return t.ActiveTimeIntervals, true
		}
	}
	return nil, false
}
