package receiver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// ChannelAlerts raises the alert a channel that keeps failing raises about
// itself, and resolves it when the channel recovers; the delivery worker
// calls Failing and Recovered. The alert is routed like any other and
// never delivered to the channel it is about.
type ChannelAlerts struct {
	Inbox  Inbox
	Logger *slog.Logger

	mu      sync.Mutex
	failing map[string]time.Time // channel → start of its alert
}

// Failing raises the alert for ch.
func (c *ChannelAlerts) Failing(ch store.Channel, consecutive int, lastErr error) {
	if c.Logger != nil {
		c.Logger.Warn("a notification channel keeps failing", "channel", ch.Name, "consecutive_failures", consecutive, "err", lastErr)
	}
	c.send(ch, c.since(ch.Name, true), time.Now().Add(24*time.Hour), lastErr.Error())
}

// Recovered resolves the alert for ch.
func (c *ChannelAlerts) Recovered(ch store.Channel) {
	c.send(ch, c.since(ch.Name, false), time.Now(), "")
}

// since is the start of a channel's alert, taken to the minute so that
// receivers sharing a store, each noticing the failure on its own, raise
// the same alert and notify it (and its end) once; the recovery reuses it,
// so the resolved notice says when the failure began.
func (c *ChannelAlerts) since(channel string, raise bool) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing == nil {
		c.failing = map[string]time.Time{}
	}
	start, ok := c.failing[channel]
	if !ok {
		start = time.Now().Truncate(time.Minute)
	}
	if raise {
		c.failing[channel] = start
	} else {
		delete(c.failing, channel)
	}
	return start
}

func (c *ChannelAlerts) send(ch store.Channel, start, ends time.Time, why string) {
	a := Alert{
		Labels: map[string]string{"alertname": ChannelFailingAlert, "channel": ch.Name, "channel_type": ch.Type,
			"severity": "critical", "type": "channel_failing"},
		Annotations: map[string]string{"summary": "Notifications to channel " + ch.Name + " keep failing.", "description": why},
		StartsAt:    start, EndsAt: ends,
	}
	_ = c.Inbox.Take(context.Background(), []Alert{a}, true)
}
