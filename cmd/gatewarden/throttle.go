package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/store"
	"github.com/gatewarden/gatewarden/throttle"
)

// notices hands the throttle's alerts to the receiver, as any other alert.
type notices struct{ inbox receiver.Inbox }

func (n notices) Notify(ctx context.Context, ns []throttle.Notice) error {
	as := make([]receiver.Alert, len(ns))
	for i, x := range ns {
		as[i] = receiver.Alert{Labels: x.Labels, Annotations: x.Annotations, StartsAt: x.StartsAt, EndsAt: x.EndsAt, GeneratorURL: x.GeneratorURL}
	}
	return n.inbox.Take(ctx, as, true)
}

// newThrottle builds the controller when the config has a throttle section;
// nil otherwise. Its state is restored from the store before the first
// evaluation, so a restart neither forgets nor repeats a decision.
func newThrottle(cfg *config.Config, st *store.Store, s throttle.Sampler, rcv *receiverParts, reg prometheus.Registerer, logger *slog.Logger) (*throttle.Controller, error) {
	if cfg.Throttle == nil {
		return nil, nil
	}
	o, err := throttle.OptionsFromConfig(cfg.Throttle)
	if err != nil {
		return nil, err
	}
	o.Sampler, o.Store, o.Notifier = s, st, notices{rcv.inbox}
	o.Registerer, o.Logger = reg, logger.With("component", "throttle")
	if cfg.Receiver != nil {
		o.Language, o.ExternalURL = cfg.Receiver.Language, cfg.Receiver.ExternalURL
	}
	c, err := throttle.New(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Load(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// applyThrottle takes a reloaded policy; the gateway settings and turning
// the throttle on or off need a restart.
func applyThrottle(c *throttle.Controller, logger *slog.Logger) func(*config.Config) error {
	return func(cfg *config.Config) error {
		switch {
		case c == nil && cfg.Throttle == nil:
			return nil
		case c == nil || cfg.Throttle == nil:
			logger.Warn("adding or removing the throttle section applies after a restart")
			return nil
		}
		p, err := throttle.NewPolicy(cfg.Throttle.ThrottlePolicy)
		if err != nil {
			return err
		}
		c.SetPolicy(p)
		return nil
	}
}
