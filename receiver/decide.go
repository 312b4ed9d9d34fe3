package receiver

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/store"
)

// The reasons a state change is suppressed, as the history records them;
// the ones with detail are built where the detail is known.
const (
	reasonResolvedEarly = "resolved before it was notified"
	reasonOwnChannel    = "about this channel's own failure"
	reasonNotRouted     = "not routed to this channel when it fired"
	reasonChannelOff    = "channel disabled"
)

// decide is the outcome of state change c of an alert on channel t: "" to
// notify it, else why it is suppressed. docs/receiver.md lists the rules.
func (f *flushing) decide(w owed, c change, t Target, firings map[firingKey]store.Notification) string {
	h := w.h
	if !c.resolved {
		switch {
		case !c.next.IsZero() || c.ep.ended(f.now):
			return reasonResolvedEarly
		case aboutChannel(h, t):
			return reasonOwnChannel
		case f.interval != "":
			return f.interval
		case w.mute != "":
			return w.mute
		}
		return f.cooldown(h, c, t, firings)
	}
	if why := f.firingOutcome(h, c, t, firings); why != "" {
		return "not notified as firing (" + why + ")"
	}
	switch {
	case !c.next.IsZero():
		return "superseded: fired again at " + stamp(c.next) + " before the resolution was notified"
	case f.interval != "":
		return f.interval
	case w.mute != "":
		return w.mute
	}
	return ""
}

// firingOutcome is why the firing of c's episode did not reach channel t,
// "" if it did (or is on its way): its claim, whoever made it (this
// flush, an earlier one, another receiver).
func (f *flushing) firingOutcome(h *held, c change, t Target, firings map[firingKey]store.Notification) string {
	n, ok := firings[firingKey{h.fp, t.ChannelID, c.ep.start.UnixMicro()}]
	switch {
	case !ok:
		return reasonNotRouted
	case n.Status == store.HistoryFailed:
		return "its delivery failed: " + n.Reason
	}
	return n.Reason
}

// cooldown holds back a firing whose alert (the same fingerprint: type,
// target, step, period and severity are labels) was notified to the
// channel within its cooldown, naming that notification.
func (f *flushing) cooldown(h *held, c change, t Target, firings map[firingKey]store.Notification) string {
	quiet := alertCooldown(h, f.g.timing.Cooldown)
	if quiet <= 0 {
		return ""
	}
	last, ok := firings[firingKey{h.fp, t.ChannelID, latest}]
	if !ok || last.Episode.Equal(c.ep.start) || f.now.Sub(last.CreatedAt) >= quiet {
		return ""
	}
	return fmt.Sprintf("cooldown: repeats %s notified at %s (notification %d); quiet until %s",
		describe(h), stamp(last.CreatedAt), last.ID, stamp(last.CreatedAt.Add(quiet)))
}

// CooldownAnnotation lets a rule set its own cooldown (`annotations:
// {cooldown: 30m}`), overriding the route's; "0s" turns it off.
const CooldownAnnotation = "cooldown"

func alertCooldown(h *held, route time.Duration) time.Duration {
	if v := h.annotations.Get(CooldownAnnotation); v != "" {
		if d, err := model.ParseDuration(v); err == nil {
			return time.Duration(d)
		}
	}
	return route
}

// muted says why an alert is held back now (a silence, an inhibition), ""
// if it is not.
func (d *Dispatcher) muted(p *Plan, h *held, now time.Time) string {
	ls := h.labelSet()
	for _, m := range p.Muters {
		if r := m.Mutes(ls, now); r != "" {
			return r
		}
	}
	if len(p.Inhibit) == 0 {
		return ""
	}
	if d.inhibit == nil {
		d.inhibit = d.buildInhibitIndex(p.Inhibit, now)
	}
	if src := d.inhibit.inhibitedBy(p.Inhibit, ls, h.fp); src != "" {
		if s := d.alerts[src]; s != nil {
			return "inhibited by " + describe(s) + " (" + src + ")"
		}
		return "inhibited by " + src
	}
	return ""
}

// ChannelFailingAlert names the alert a failing channel raises about
// itself; it is never delivered to that channel.
const ChannelFailingAlert = "GatewardenChannelFailing"

func aboutChannel(h *held, t Target) bool {
	return h.labels.Get(model.AlertNameLabel) == ChannelFailingAlert && h.labels.Get("channel") == t.Name
}

// describe names an alert in a reason: its alertname and other labels.
func describe(h *held) string {
	ls := h.labelSet()
	name := string(ls[model.AlertNameLabel])
	delete(ls, model.AlertNameLabel)
	return name + ls.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// reasonKind is a suppression reason's label on
// gatewarden_notifications_suppressed_total.
func reasonKind(reason string) string {
	for _, k := range []struct{ prefix, kind string }{
		{"cooldown:", "cooldown"},
		{"silenced by", "silenced"},
		{"inhibited by", "inhibited"},
		{"muted by time interval", "time_interval"},
		{"outside active time interval", "time_interval"},
		{reasonResolvedEarly, "resolved_early"},
		{"not notified as firing", "not_notified"},
		{"superseded", "superseded"},
		{reasonOwnChannel, "own_channel"},
		{reasonChannelOff, "channel_disabled"},
	} {
		if strings.HasPrefix(reason, k.prefix) {
			return k.kind
		}
	}
	return "other"
}

// finished remembers an alert that left every group with all its changes
// decided, so the resolved re-posts senders keep making for a while (a
// Prometheus re-sends a resolution for 15 minutes) do not hold it again.
func (d *Dispatcher) finished(h *held, now time.Time) {
	d.done[h.fp] = finishedEpisode{h.eps[len(h.eps)-1].start, now}
}

type finishedEpisode struct{ start, at time.Time }

// stale reports whether a is a resolved re-post of an episode decided in
// full; forgetFinished drops what no sender re-posts any more.
func (d *Dispatcher) stale(a Alert, now time.Time) bool {
	f, ok := d.done[a.Fingerprint()]
	return ok && !a.firing(now) && f.start.Equal(a.StartsAt)
}

func (d *Dispatcher) forgetFinished(now time.Time) {
	for fp, f := range d.done {
		if now.Sub(f.at) > finishedMemory {
			delete(d.done, fp)
		}
	}
}

// finishedMemory is how long a decided episode's resolved re-posts are
// recognised; longer than Prometheus re-sends a resolution.
const finishedMemory = time.Hour
