package ledgertest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

const (
	// tolMute is how far a silence's or an inhibiting source's edges may
	// be from what they explain, for propagation inside one process.
	tolMute = 3 * time.Second
	// tolPeerMute replaces it when daemons share a store: a silence made
	// through one reaches the other within 10 s.
	tolPeerMute = 13 * time.Second
	// tolTiming covers the scheduling slack of group timers and requests
	// in flight when a reload lands.
	tolTiming = time.Second
)

type entryKey struct {
	changeKey
	Channel int64
}

type checker struct {
	o         *observation
	m         *ledgerModel
	vs        []violation
	tol       time.Duration
	chanID    map[string]int64
	ignore    map[string]bool // fingerprints of GatewardenChannelFailing
	byKey     map[entryKey][]*entry
	byID      map[int64]*entry
	sentByBox map[int64][]*entry
	boxes     map[int64][]*receipt // accepted receipts by outbox id
}

// check judges one history. It never looks at gatewarden's code, only at
// what was posted, what the history says and what the sink received.
func check(o *observation) []violation {
	c := &checker{o: o, m: deriveModel(o.Posts, o.End), tol: tolMute, chanID: map[string]int64{}, ignore: map[string]bool{},
		byKey: map[entryKey][]*entry{}, byID: map[int64]*entry{}, sentByBox: map[int64][]*entry{}, boxes: map[int64][]*receipt{}}
	if o.Cfg.Peers > 1 {
		c.tol = tolPeerMute
	}
	c.channels()
	c.receipts()
	c.entries()
	c.owed()
	c.deliveries()
	return c.vs
}

func (c *checker) add(kind, format string, args ...any) {
	c.vs = append(c.vs, violation{Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) channels() {
	for id, name := range c.o.Channels {
		c.chanID[name] = id
	}
	for _, name := range c.o.Cfg.Channels {
		if _, ok := c.chanID[name]; !ok {
			c.add("channel-missing", "channel %s is not in /admin/alert-channels", name)
		}
		ls := model.LabelSet{"alertname": channelFailing, "channel": model.LabelValue(name), "channel_type": "webhook",
			"severity": "critical", "type": "channel_failing"}
		c.ignore[fingerprint(ls)] = true
	}
}

// receipts files the sink's requests and checks what needs no history:
// the path after reloads, the header, a channel's own failure alert.
func (c *checker) receipts() {
	reloads := []eventRec{}
	for _, e := range c.o.Events {
		if e.Kind == evReload {
			reloads = append(reloads, e)
		}
	}
	sort.Slice(reloads, func(i, j int) bool { return reloads[i].At.Before(reloads[j].At) })
	for i := range c.o.Receipts {
		r := &c.o.Receipts[i]
		for _, a := range r.Body.Alerts {
			if a.Labels["alertname"] == channelFailing {
				c.ignore[a.fp()] = true
				if a.Labels["channel"] == r.Channel {
					c.add("own-failure-delivered", "%s was sent to the channel it is about: %s", channelFailing, r)
				}
			}
		}
		if r.Channel == "" || !c.configured(r.Channel) {
			c.add("unknown-path", "a request to a path no channel has: %s", r)
			continue
		}
		valid := map[string]bool{c.o.Suffix: true}
		for _, rl := range reloads {
			if r.At.Before(rl.At) {
				break
			}
			if r.At.After(rl.Done.Add(tolTiming)) {
				valid = map[string]bool{}
			}
			valid[rl.Suffix] = true
		}
		if !valid[r.Suffix] {
			c.add("reload-not-applied", "sent to the URL a reload replaced: %s", r)
		}
		if !r.accepted() {
			continue
		}
		switch {
		case r.BodyErr != "":
			c.add("body-invalid", "%s: %s", r, r.BodyErr)
		case r.Body.Version != "4":
			c.add("body-invalid", "webhook payload version %q, want \"4\": %s", r.Body.Version, r)
		}
		if r.OutboxID == 0 {
			c.add("no-notification-header", "no usable X-Gatewarden-Notification: %s", r)
			continue
		}
		c.boxes[r.OutboxID] = append(c.boxes[r.OutboxID], r)
	}
}

func (c *checker) configured(name string) bool {
	for _, n := range c.o.Cfg.Channels {
		if n == name {
			return true
		}
	}
	return false
}

func (c *checker) ignored(e *entry) bool {
	return c.ignore[e.Fingerprint] || strings.HasPrefix(e.Error, "about this channel's own failure") ||
		strings.Contains(string(e.Payload), channelFailing)
}

// entries files the history by key and checks what each says alone.
func (c *checker) entries() {
	for i := range c.o.Entries {
		e := &c.o.Entries[i]
		c.byID[e.ID] = e
		if e.Status == "sent" && e.OutboxID != 0 {
			c.sentByBox[e.OutboxID] = append(c.sentByBox[e.OutboxID], e)
		}
		if c.ignored(e) || e.Transition == transRepeat {
			continue
		}
		if e.Status == "failed" {
			c.add("failed", "no channel was removed and the sink recovered, yet: %s", e)
		}
		if !e.keyed() {
			c.add("entry-unkeyed", "no fingerprint, transition or episode: %s", e)
			if strings.HasPrefix(e.Error, "cooldown:") && c.o.Cfg.Cooldown == 0 {
				c.add("bad-reason", "a cooldown with cooldown 0s: %s", e)
			}
			continue
		}
		if e.Peer == "" {
			c.add("entry-no-peer", "the entry does not name the process that claimed it: %s", e)
		}
		ep, err := time.Parse(time.RFC3339Nano, e.Episode)
		if err != nil {
			c.add("entry-bad-episode", "episode %q: %v: %s", e.Episode, err, e)
			continue
		}
		if e.StartsAt != nil && *e.StartsAt != ep.Unix() {
			c.add("entry-bad-episode", "starts_at %d disagrees with episode: %s", *e.StartsAt, e)
		}
		if _, ok := c.o.Channels[e.ChannelID]; !ok {
			c.add("entry-unknown-channel", "%s", e)
		}
		if e.Transition != transFiring && e.Transition != transResolved {
			c.add("entry-bad-transition", "%s", e)
			continue
		}
		k := entryKey{changeKey{FP: e.Fingerprint, Transition: e.Transition, Episode: ep.UnixNano()}, e.ChannelID}
		c.byKey[k] = append(c.byKey[k], e)
	}
}

// owed holds the history to the model: exactly one entry per state change
// and channel, each with a status the model allows.
func (c *checker) owed() {
	for _, ch := range c.m.sortedChanges() {
		for _, name := range c.o.Cfg.Channels {
			id, ok := c.chanID[name]
			if !ok {
				continue
			}
			es := c.byKey[entryKey{ch.Key, id}]
			switch len(es) {
			case 0:
				c.add("missing", "%s %s on %s: no history entry %s", ch.Key, ch.Labels, name, c.carried(ch, name))
				continue
			case 1:
			default:
				var ss []string
				for _, e := range es {
					ss = append(ss, e.String())
				}
				c.add("duplicate", "%s on %s: %d entries: %s", ch.Key, name, len(es), strings.Join(ss, "; "))
			}
			for _, e := range es {
				c.status(e, ch, id)
				if e.Status == "sent" {
					c.sent(e, name)
				}
			}
		}
	}
	keys := make([]entryKey, 0, len(c.byKey))
	for k := range c.byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.byKey[keys[i]][0].ID < c.byKey[keys[j]][0].ID })
	for _, k := range keys {
		if c.m.Changes[k.changeKey] == nil {
			for _, e := range c.byKey[k] {
				c.add("unowed-entry", "a state change the model does not know: %s", e)
			}
		}
	}
}

// carried says whether some accepted request carried the change anyway,
// which tells a lost notification from a lost entry.
func (c *checker) carried(ch *change, channel string) string {
	for i := range c.o.Receipts {
		r := &c.o.Receipts[i]
		if r.Channel == channel && r.accepted() && r.carries(ch.Key) {
			return fmt.Sprintf("(a request carried it: %s)", r)
		}
	}
	return "(and no request carried it)"
}

func (r *receipt) carries(k changeKey) bool {
	for _, a := range r.Body.Alerts {
		if a.fp() == k.FP && a.Status == k.Transition && a.StartsAt.UnixNano() == k.Episode {
			return true
		}
	}
	return false
}

func (c *checker) entryFor(k changeKey, transition string, channel int64) *entry {
	k.Transition = transition
	if es := c.byKey[entryKey{k, channel}]; len(es) > 0 {
		return es[0]
	}
	return nil
}

// status checks an entry's outcome against what the model allows for it.
func (c *checker) status(e *entry, ch *change, channel int64) {
	decided := e.decided(c.o.End)
	switch e.Status {
	case "sent":
		if ch.Key.Transition == transResolved {
			if f := c.entryFor(ch.Key, transFiring, channel); f != nil && f.Status != "sent" {
				c.add("bad-status", "a resolution sent to a channel never told of the firing (%s): %s", f.Status, e)
			}
			return
		}
		if c.o.Cfg.Cooldown > 0 {
			if prev := c.earlierSent(ch, channel); prev != nil && !c.superseded(prev, channel) {
				c.add("cooldown-not-held", "fired again within the cooldown after %s: %s", prev, e)
			}
		}
		for _, s := range c.o.Silences {
			if s.matches(ch.Labels) && !s.Created.After(ch.At.Add(-c.tol)) && (s.Expired.IsZero() || !s.Expired.Before(decided.Add(c.tol))) {
				c.add("sent-while-muted", "silence %s was active throughout: %s", s.ID, e)
			}
		}
		for _, src := range c.sources(ch.Labels) {
			if src.openThroughout(ch.At.Add(-c.tol), decided.Add(c.tol)) {
				c.add("sent-while-muted", "inhibited by %s (%s) firing throughout: %s", src.Labels, src.FP, e)
			}
		}
	case "suppressed":
		c.reason(e, ch, channel, decided)
	case "failed": // reported in entries
	default:
		c.add("bad-status", "unknown status: %s", e)
	}
}

var (
	historyRef = regexp.MustCompile(`\(history (\d+)\)`)
	parenFP    = regexp.MustCompile(`\(([0-9a-f]{16})\)\s*$`)
)

func (c *checker) reason(e *entry, ch *change, channel int64, decided time.Time) {
	r, ep := e.Error, ch.Ep
	window := func(from, to time.Time) bool { // overlaps [change, decided] with tolerance
		return !from.After(decided.Add(c.tol)) && (to.IsZero() || !to.Before(ch.At.Add(-c.tol)))
	}
	switch {
	case strings.HasPrefix(r, "cooldown:"):
		switch {
		case ch.Key.Transition == transResolved:
			c.add("bad-reason", "a resolution held back by the cooldown: %s", e)
		case c.o.Cfg.Cooldown == 0:
			c.add("bad-reason", "a cooldown with cooldown 0s: %s", e)
		case c.earlierSent(ch, channel) == nil:
			c.add("bad-reason", "a cooldown though no earlier episode of this alert was sent to this channel: %s", e)
		default:
			if m := historyRef.FindStringSubmatch(r); m != nil {
				id, _ := strconv.ParseInt(m[1], 10, 64)
				ref := c.byID[id]
				if ref == nil || ref.Fingerprint != e.Fingerprint || ref.ChannelID != channel || ref.Transition != transFiring || ref.Status != "sent" {
					c.add("bad-reason", "the cooldown names history %d, not a sent firing of this alert on this channel: %s", id, e)
				}
			}
		}
	case strings.HasPrefix(r, "silenced by "):
		id := strings.TrimSpace(strings.TrimPrefix(r, "silenced by "))
		for _, s := range c.o.Silences {
			if s.ID == id {
				if !s.matches(ch.Labels) {
					c.add("bad-reason", "silence %s does not match %s: %s", id, ch.Labels, e)
				} else if !window(s.Created, s.Expired) {
					c.add("bad-reason", "silence %s was not active then (created %s, expired %s): %s", id,
						s.Created.Format("15:04:05.000"), s.Expired.Format("15:04:05.000"), e)
				}
				return
			}
		}
		c.add("bad-reason", "no silence %q was created: %s", id, e)
	case strings.HasPrefix(r, "inhibited by "):
		m := parenFP.FindStringSubmatch(r)
		if m == nil {
			c.add("bad-reason", "the inhibition names no fingerprint: %s", e)
			return
		}
		for _, src := range c.sources(ch.Labels) {
			if src.FP == m[1] && src.openDuring(ch.At.Add(-c.tol), decided.Add(c.tol)) {
				return
			}
		}
		c.add("bad-reason", "%s was not an inhibiting source firing then: %s", m[1], e)
	case r == "resolved before it was notified":
		if ep.Ended.IsZero() {
			c.add("bad-reason", "the episode never ended: %s", e)
		} else if ep.Ended.Sub(ep.Opened) > c.o.Cfg.GroupWait+c.o.Cfg.GroupInterval+tolTiming && !c.o.restartedDuring(ep.Opened, ep.Ended.Add(tolTiming)) {
			c.add("bad-reason", "the episode lasted %s, past its group's first notification: %s", ep.Ended.Sub(ep.Opened).Round(time.Millisecond), e)
		}
	case strings.HasPrefix(r, "not notified as firing ("):
		if ch.Key.Transition != transResolved {
			c.add("bad-reason", "not a resolution: %s", e)
		} else if f := c.entryFor(ch.Key, transFiring, channel); f != nil && f.Status == "sent" {
			c.add("bad-reason", "its firing was sent (%s): %s", f, e)
		}
	case strings.HasPrefix(r, "superseded:"):
		if ch.Key.Transition != transResolved || !c.m.later(ep) {
			c.add("bad-reason", "no later episode supersedes it: %s", e)
		}
	case r == "channel disabled", strings.HasPrefix(r, "muted by time interval"), strings.HasPrefix(r, "outside active time interval"),
		strings.HasPrefix(r, "about this channel's own failure"):
		c.add("bad-reason", "nothing configured or done calls for it: %s", e)
	default:
		c.add("unknown-reason", "%s", e)
	}
}

// earlierSent is the sent firing, on channel, of an earlier episode of the
// same alert: what a cooldown repeats.
func (c *checker) earlierSent(ch *change, channel int64) *entry {
	for _, o := range c.m.Episodes[ch.Key.FP] {
		if !o.Start.Before(ch.Ep.Start) {
			continue
		}
		k := changeKey{FP: o.FP, Transition: transFiring, Episode: o.Start.UnixNano()}
		if f := c.entryFor(k, transFiring, channel); f != nil && f.Status == "sent" {
			return f
		}
	}
	return nil
}

// superseded reports whether the resolution of prev's episode gave way to
// a new one; the contract then tells the channel of the new episode.
func (c *checker) superseded(prev *entry, channel int64) bool {
	ep, err := time.Parse(time.RFC3339Nano, prev.Episode)
	if err != nil {
		return false
	}
	r := c.entryFor(changeKey{FP: prev.Fingerprint, Episode: ep.UnixNano()}, transResolved, channel)
	return r != nil && strings.HasPrefix(r.Error, "superseded:")
}

// sources are the inhibit rule's source episodes that can mute ls.
func (c *checker) sources(ls model.LabelSet) []*episode {
	if ls["severity"] != inhibitSeverity {
		return nil
	}
	var out []*episode
	for _, eps := range c.m.Episodes {
		for _, e := range eps {
			if e.Labels["alertname"] == inhibitSource && e.Labels[inhibitEqual] == ls[inhibitEqual] {
				out = append(out, e)
			}
		}
	}
	return out
}

// sent checks that a sent entry's notification reached its channel
// carrying the change.
func (c *checker) sent(e *entry, channel string) {
	if e.OutboxID == 0 {
		c.add("sent-unmatched", "a sent entry without outbox_id: %s", e)
		return
	}
	rs := c.boxes[e.OutboxID]
	if len(rs) == 0 {
		c.add("sent-unmatched", "the sink never accepted outbox item %d: %s", e.OutboxID, e)
		return
	}
	ep, _ := time.Parse(time.RFC3339Nano, e.Episode)
	k := changeKey{FP: e.Fingerprint, Transition: e.Transition, Episode: ep.UnixNano()}
	for _, r := range rs {
		if r.Channel != channel {
			c.add("sent-unmatched", "outbox item %d reached %s, not %s: %s", e.OutboxID, r.Channel, channel, e)
		} else if !r.carries(k) {
			c.add("sent-unmatched", "the request does not carry the change: %s; %s", e, r)
		}
	}
}

// deliveries checks the sink's side: nothing received that no entry
// accounts for, nothing received twice but what a kill -9 allows.
func (c *checker) deliveries() {
	ids := make([]int64, 0, len(c.boxes))
	for id := range c.boxes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	kills := c.o.kills()
	for _, id := range ids {
		rs := c.boxes[id]
		if len(c.sentByBox[id]) == 0 {
			c.add("unowed-delivery", "outbox item %d was delivered but no history entry says sent: %s", id, rs[0])
		}
		if len(rs) < 2 {
			continue
		}
		allowed := 1
		for _, k := range kills {
			if k.After(rs[0].At) && k.Before(rs[len(rs)-1].At) {
				allowed++
			}
		}
		if len(rs) > allowed {
			var ss []string
			for _, r := range rs {
				ss = append(ss, r.At.UTC().Format("15:04:05.000"))
			}
			c.add("delivered-twice", "outbox item %d accepted %d times (at %s), %d kill(s) between: %s", id, len(rs), strings.Join(ss, ", "), allowed-1, rs[0])
		}
	}
}
