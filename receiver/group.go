package receiver

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// group is one aggregation group: the alerts of one route and receiver
// with the same group labels, notified together.
type group struct {
	key      string
	routeID  string
	receiver string
	labels   model.LabelSet
	timing   Timing
	alerts   map[string]*held
	// sent is what the receiver was last told of each alert.
	sent     map[string]sentState
	lastSent time.Time
	next     time.Time
	index    int // in the queue
}

type sentState struct {
	resolved bool
	severity string
}

// groupQueue orders groups by their next flush.
type groupQueue []*group

func (q groupQueue) Len() int           { return len(q) }
func (q groupQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q groupQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *groupQueue) Push(x any)        { g := x.(*group); g.index = len(*q); *q = append(*q, g) }
func (q *groupQueue) Pop() any {
	old := *q
	g := old[len(old)-1]
	*q = old[:len(old)-1]
	return g
}

func (q groupQueue) peek() (time.Time, bool) {
	if len(q) == 0 {
		return time.Time{}, false
	}
	return q[0].next, true
}

func (q *groupQueue) popDue(now time.Time) (*group, bool) {
	if len(*q) == 0 || (*q)[0].next.After(now) {
		return nil, false
	}
	return heap.Pop(q).(*group), true
}

// flush decides what the receiver must hear of g now and enqueues it for
// each of the receiver's channels. As Alertmanager: a notification goes
// out when a firing alert is new (or changed severity), when a notified
// alert resolved, or when repeat_interval passed; resolved alerts leave the
// group once told.
func (d *Dispatcher) flush(ctx context.Context, p *Plan, g *group, now time.Time) (ok bool) {
	if p.Muted != nil && p.Muted(g.timing, now) {
		d.m.suppressed.WithLabelValues("time_interval").Add(float64(len(g.alerts)))
		return true
	}
	var firing, resolved []Alert
	var gone []string          // resolved alerts that leave the group once this flush is written
	fresh := map[string]bool{} // firing alerts the receiver has not been told of as they are
	changed := false
	for fp, h := range g.alerts {
		a := h.alert()
		s, told := g.sent[fp]
		if !a.EndsAt.After(now) {
			if told && !s.resolved {
				resolved = append(resolved, a)
				changed = true
			}
			gone = append(gone, fp)
			continue
		}
		if reason := d.muted(p, a, fp, now); reason != "" {
			d.m.suppressed.WithLabelValues(reason).Inc()
			continue
		}
		firing = append(firing, a)
		if !told || s.resolved || s.severity != severity(a.Labels) {
			changed, fresh[fp] = true, true
		}
	}
	repeat := len(firing) > 0 && !g.lastSent.IsZero() && now.Sub(g.lastSent) >= g.timing.RepeatInterval
	if changed || repeat {
		// A repeat is news again for every firing alert; otherwise only
		// what is fresh answers to the cooldown.
		firing = d.cooldown(ctx, p, g, firing, now, func(fp string) bool { return !changed || fresh[fp] })
		if len(firing)+len(resolved) > 0 {
			epoch := ""
			if !changed {
				epoch = strconv.FormatInt(now.UnixNano()/int64(max(g.timing.RepeatInterval, time.Second)), 10)
			}
			if !d.enqueue(ctx, p, g, d.message(p, g, firing, resolved), epoch) {
				return false // nothing counts as told; the next flush tries again
			}
			g.lastSent = now
			for _, a := range firing {
				g.sent[a.Fingerprint()] = sentState{severity: severity(a.Labels)}
			}
		}
	}
	for _, fp := range gone {
		delete(g.alerts, fp)
		delete(g.sent, fp)
		delete(d.alerts, fp)
	}
	return true
}

// muted says why an alert is held back, "" if it is not.
func (d *Dispatcher) muted(p *Plan, a Alert, fp string, now time.Time) string {
	ls := labelSet(a.Labels)
	for _, m := range p.Muters {
		if r := m.Mutes(ls, now); r != "" {
			return r
		}
	}
	if len(p.Inhibit) > 0 {
		if d.inhibit == nil {
			d.inhibit = d.buildInhibitIndex(p.Inhibit, now)
		}
		if d.inhibit.inhibited(p.Inhibit, ls, fp) {
			return "inhibited"
		}
	}
	return ""
}

// CooldownAnnotation lets a rule set its own cooldown (`annotations:
// {cooldown: 30m}`), overriding the route's; "0s" turns it off.
const CooldownAnnotation = "cooldown"

func alertCooldown(a Alert, route time.Duration) time.Duration {
	if v, ok := a.Annotations[CooldownAnnotation]; ok {
		if d, err := model.ParseDuration(v); err == nil {
			return time.Duration(d)
		}
	}
	return route
}

// cooldownKey is the (alert type, target) of an alert, per receiver. A
// stepped threshold's step belongs to the target: each budget step crossed
// is news of its own, not a repeat of the last.
func cooldownKey(receiver string, a Alert) string {
	target := a.Fingerprint()
	// By name: a plugin instance's id is only unique within its tenant
	// and plugin.
	if rid, rtype, name := related(a.Labels); rid != "" {
		target = rtype + "=" + name
	}
	if step := a.Labels["step"]; step != "" {
		target += "/step=" + step
	}
	return receiver + "|" + alertType(a.Labels) + "|" + target
}

// cooldown holds back firing alerts whose (type, target) was notified to
// this receiver within the cooldown, recording each as suppressed. A
// severity change passes (the store compares severities); resolutions are
// never held back. A store that cannot answer lets the alert through:
// a duplicate beats a lost notification.
func (d *Dispatcher) cooldown(ctx context.Context, p *Plan, g *group, firing []Alert, now time.Time, subject func(fp string) bool) []Alert {
	// The claims are made in one call: the first flush of a group of
	// thousands of new alerts would otherwise hold the dispatcher, and
	// ingest behind it, for a store round trip per alert.
	var claims []store.CooldownClaim
	var claimed []int
	for i, a := range firing {
		if quiet := alertCooldown(a, g.timing.Cooldown); quiet > 0 && subject(a.Fingerprint()) {
			claims = append(claims, store.CooldownClaim{Key: cooldownKey(g.receiver, a), Severity: severity(a.Labels), Interval: quiet})
			claimed = append(claimed, i)
		}
	}
	if len(claims) == 0 {
		return firing
	}
	res, err := d.sink.ClaimCooldowns(ctx, claims, now)
	if err != nil {
		d.log.Warn("cooldown check failed; notifying", "err", err)
		return firing
	}
	held := make([]bool, len(firing))
	for j, i := range claimed {
		if !res[j].Allowed {
			held[i] = true
			d.suppress(ctx, p, g, firing[i], claims[j], res[j].Last, now)
		}
	}
	out := firing[:0]
	for i, a := range firing {
		if !held[i] {
			out = append(out, a)
		}
	}
	return out
}

// suppress records an alert the cooldown holds back: told, as far as the
// group goes, and in the history of each of the receiver's channels.
func (d *Dispatcher) suppress(ctx context.Context, p *Plan, g *group, a Alert, c store.CooldownClaim, last, now time.Time) {
	g.sent[a.Fingerprint()] = sentState{severity: severity(a.Labels)}
	if !last.Before(a.StartsAt) {
		// Claimed since this alert began: another receiver on the store
		// is notifying this very alert. Not a suppression.
		d.m.suppressed.WithLabelValues("duplicate").Inc()
		return
	}
	d.m.suppressed.WithLabelValues("cooldown").Inc()
	reason := fmt.Sprintf("cooldown: %s was notified at %s; quiet until %s", c.Key,
		last.UTC().Format(time.RFC3339), last.Add(c.Interval).UTC().Format(time.RFC3339))
	payload, _ := json.Marshal(map[string]any{"fingerprint": a.Fingerprint(), "labels": a.Labels, "receiver": g.receiver})
	for _, t := range p.Targets(g.receiver) {
		if _, err := d.sink.AddHistory(ctx, store.HistoryEntry{ChannelID: t.ChannelID, Status: store.HistorySuppressed,
			Error: reason, Payload: payload, TriggeredAt: now, Attempt: 1}); err != nil {
			d.log.Warn("recording a suppression failed", "err", err)
		}
	}
}

// message builds the notification in Alertmanager's template data.
func (d *Dispatcher) message(p *Plan, g *group, firing, resolved []Alert) *message.Message {
	all := append(append([]Alert(nil), firing...), resolved...)
	slices.SortFunc(all, func(a, b Alert) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.Fingerprint(), b.Fingerprint()))
	})
	data := &template.Data{Receiver: g.receiver, Status: string(model.AlertFiring), ExternalURL: p.ExternalURL,
		GroupLabels: kv(g.labels), NotificationReason: "notify"}
	if len(firing) == 0 {
		data.Status = string(model.AlertResolved)
	}
	sev := ""
	for _, a := range all {
		status := model.AlertFiring
		if !a.EndsAt.After(d.now()) {
			status = model.AlertResolved
		} else if rank(severity(a.Labels)) > rank(sev) {
			sev = severity(a.Labels)
		}
		data.Alerts = append(data.Alerts, template.Alert{Status: string(status), Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint()})
	}
	data.CommonLabels, data.CommonAnnotations = common(all, func(a Alert) map[string]string { return a.Labels }),
		common(all, func(a Alert) map[string]string { return a.Annotations })
	m := &message.Message{Data: data, Version: message.Version, GroupKey: g.key, Kind: message.KindAlert, Severity: sev, Language: p.Language}
	if p.ExternalURL != "" {
		m.AckURL = p.ExternalURL + "/admin/alerts?status=active"
	}
	return m
}

func rank(sev string) int {
	switch sev {
	case store.SeverityCritical:
		return 3
	case store.SeverityWarning:
		return 2
	case store.SeverityInfo:
		return 1
	}
	return 0
}

func kv(ls model.LabelSet) template.KV {
	out := template.KV{}
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}

// common is the label (or annotation) pairs every alert shares.
func common(as []Alert, get func(Alert) map[string]string) template.KV {
	ms := make([]map[string]string, len(as))
	for i, a := range as {
		ms[i] = get(a)
	}
	return commonKV(ms)
}

// enqueue writes the message to the outbox once per channel. The
// idempotency key is the message's content (and, for a repeat, its repeat
// period), so two receivers sharing a store enqueue it once between them.
func (d *Dispatcher) enqueue(ctx context.Context, p *Plan, g *group, m *message.Message, epoch string) bool {
	ok := true
	for _, t := range p.Targets(g.receiver) {
		tm := forTarget(t, m)
		if tm == nil {
			continue
		}
		payload, err := json.Marshal(tm)
		if err != nil {
			d.log.Error("encoding a notification failed", "err", err)
			continue // retrying cannot help
		}
		fp := ""
		if len(tm.Alerts) == 1 {
			fp = tm.Alerts[0].Fingerprint
		}
		_, created, err := d.sink.Enqueue(ctx, store.OutboxItem{ChannelID: t.ChannelID, Fingerprint: fp, Payload: payload,
			IdempotencyKey: strconv.FormatInt(t.ChannelID, 10) + ":" + contentKey(g, tm, epoch)})
		switch {
		case err != nil:
			ok = false
			d.m.enqueueFailures.Inc()
			d.log.Error("writing a notification to the outbox failed", "receiver", g.receiver, "channel", t.Name, "err", err)
		case created:
			d.m.enqueued.Inc()
		default:
			d.m.suppressed.WithLabelValues("duplicate").Inc()
		}
	}
	d.wake()
	return ok
}

func contentKey(g *group, m *message.Message, epoch string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", g.receiver, g.key, epoch)
	for _, a := range m.Alerts {
		fmt.Fprintf(h, "%s|%s|%d|%s\x00", a.Fingerprint, a.Status, a.StartsAt.UnixNano(), a.Labels["severity"])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChannelFailingAlert names the alert a failing channel raises about
// itself; it is never delivered to that channel.
const ChannelFailingAlert = "GatewardenChannelFailing"

// forTarget is the message as channel t receives it: without the alerts
// about t's own failure (nil when nothing else is left).
func forTarget(t Target, m *message.Message) *message.Message {
	about := func(a template.Alert) bool {
		return a.Labels["alertname"] == ChannelFailingAlert && a.Labels["channel"] == t.Name
	}
	if !slices.ContainsFunc(m.Alerts, about) {
		return m
	}
	c, data := *m, *m.Data
	data.Alerts = slices.DeleteFunc(slices.Clone(m.Alerts), about)
	if len(data.Alerts) == 0 {
		return nil
	}
	labels := make([]map[string]string, len(data.Alerts))
	for i, a := range data.Alerts {
		labels[i] = a.Labels
	}
	data.CommonLabels = commonKV(labels)
	c.Data = &data
	return &c
}

// commonKV is the pairs every map shares.
func commonKV(ms []map[string]string) template.KV {
	out := template.KV{}
	if len(ms) == 0 {
		return out
	}
	for k, v := range ms[0] {
		out[k] = v
	}
	for _, m := range ms[1:] {
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}
