package receiver

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"slices"
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
	// done counts each alert's state changes decided here (absolute, as
	// held.change numbers them).
	done map[string]int
	// notified: the alert's last firing decided here went out to a
	// channel, so later notifications of the group list it as firing.
	notified map[string]bool
	lastSent time.Time
	next     time.Time
	index    int // in the queue
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

// owed is what one alert of a group owes at a flush: its state changes
// from, up to to (exclusive).
type owed struct {
	h        *held
	from, to int
	mute     string // why the alert is muted now (silence, inhibition), "" if not
}

// flush decides every state change of g's alerts not yet decided, for each
// of the receiver's channels, and writes the claims and the notifications
// carrying the ones to send in one ledger transaction. As Alertmanager, a
// notification lists the group's firing alerts the channel was told of and
// goes out when something changed, or again after repeat_interval.
func (d *Dispatcher) flush(ctx context.Context, p *Plan, g *group, now time.Time) (ok bool) {
	var work []owed
	for fp, h := range g.alerts {
		if from, to := g.done[fp], h.happened(now); from < to {
			work = append(work, owed{h: h, from: from, to: to, mute: d.muted(p, h, now)})
		}
	}
	slices.SortFunc(work, func(a, b owed) int { return cmp.Compare(a.h.fp, b.h.fp) })
	repeat := len(work) == 0 && !g.lastSent.IsZero() && now.Sub(g.lastSent) >= g.timing.RepeatInterval
	if len(work) == 0 && !repeat {
		d.leave(g, now)
		return true
	}
	f := &flushing{d: d, p: p, g: g, now: now, work: work, targets: p.Targets(g.receiver)}
	if p.Muted != nil {
		f.interval = p.Muted(g.timing, now)
	}
	if err := d.o.Ledger.InLedger(ctx, now, f.run); err != nil {
		d.m.enqueueFailures.Inc()
		d.log.Error("recording a group's notifications failed; retrying", "receiver", g.receiver, "group", g.key, "err", err)
		return false
	}
	f.commit()
	d.leave(g, now)
	if f.enqueued > 0 {
		d.wake()
	}
	return true
}

// flushing is one flush's decisions. run may run more than once (the store
// retries a transaction PostgreSQL aborted), so it starts afresh each time
// and commit applies what the last run decided.
type flushing struct {
	d        *Dispatcher
	p        *Plan
	g        *group
	now      time.Time
	work     []owed
	targets  []Target
	interval string // the time interval muting the route now

	decisions map[decisionKey]string // "" notify, else why suppressed
	claimed   []store.Notification
	notified  map[string]bool
	enqueued  int
}

type decisionKey struct {
	fp      string
	k       int
	channel int64
}

func (f *flushing) run(tx *store.LedgerTx) error {
	f.decisions, f.claimed, f.notified, f.enqueued = map[decisionKey]string{}, nil, map[string]bool{}, 0
	if len(f.work) == 0 {
		made, err := tx.Claim(f.repeats())
		if err != nil {
			return err
		}
		f.claimed = made
		return f.enqueue(tx)
	}
	// Firings first: a resolution is decided by what became of its firing
	// on the channel, which may be this flush's claim or another
	// receiver's, so the firing claims are read again once made.
	firings, err := f.lookup(tx, false)
	if err != nil {
		return err
	}
	if err := f.claimChanges(tx, false, firings); err != nil {
		return err
	}
	if firings, err = f.lookup(tx, true); err != nil {
		return err
	}
	if err := f.claimChanges(tx, true, firings); err != nil {
		return err
	}
	return f.enqueue(tx)
}

// claimChanges decides and claims the owed firings (or resolutions) on
// every channel.
func (f *flushing) claimChanges(tx *store.LedgerTx, resolutions bool, firings map[firingKey]store.Notification) error {
	var claims []store.Notification
	for _, w := range f.work {
		for k := w.from; k < w.to; k++ {
			c := w.h.change(k)
			if c.resolved != resolutions {
				continue
			}
			for _, t := range f.targets {
				why := f.decide(w, c, t, firings)
				f.decisions[decisionKey{w.h.fp, k, t.ChannelID}] = why
				if !c.resolved {
					f.notified[w.h.fp] = f.notified[w.h.fp] || why == ""
				}
				claims = append(claims, f.claim(w.h, c, t, why))
			}
		}
	}
	made, err := tx.Claim(claims)
	f.claimed = append(f.claimed, made...)
	return err
}

// claim is the ledger row of a decision.
func (f *flushing) claim(h *held, c change, t Target, why string) store.Notification {
	n := store.Notification{Fingerprint: h.fp, Episode: c.ep.start, Transition: store.TransitionFiring, ChannelID: t.ChannelID,
		Receiver: f.g.receiver, GroupKey: f.g.key, Reason: why, Peer: f.d.o.Peer}
	if c.resolved {
		n.Transition = store.TransitionResolved
	}
	if why != "" {
		n.Status = store.HistorySuppressed
	}
	return n
}

// lookup reads the firing claims the decisions depend on: those of the
// episodes whose resolution is owed and, unless episodesOnly, the
// cooldowns'.
func (f *flushing) lookup(tx *store.LedgerTx, episodesOnly bool) (map[firingKey]store.Notification, error) {
	fps := make([]string, 0, len(f.work))
	var episodes []time.Time
	longest := time.Duration(0)
	for _, w := range f.work {
		fps = append(fps, w.h.fp)
		longest = max(longest, alertCooldown(w.h, f.g.timing.Cooldown))
		for k := w.from; k < w.to; k++ {
			if c := w.h.change(k); c.resolved {
				episodes = append(episodes, c.ep.start)
			}
		}
	}
	if len(fps) == 0 {
		return nil, nil
	}
	since := f.now.Add(-longest)
	if episodesOnly {
		if len(episodes) == 0 {
			return nil, nil
		}
		since = f.now.Add(time.Hour) // no claim is that new: the episodes alone
	}
	ns, err := tx.Firings(fps, since, episodes)
	if err != nil {
		return nil, err
	}
	out := make(map[firingKey]store.Notification, len(ns))
	for _, n := range ns {
		out[firingKey{n.Fingerprint, n.ChannelID, n.Episode.UnixMicro()}] = n
		if n.Status == store.NotificationPending || n.Status == store.HistorySent {
			// The latest notified firing of the alert on the channel,
			// whatever its episode: what a cooldown measures from.
			if l, ok := out[firingKey{n.Fingerprint, n.ChannelID, latest}]; !ok || l.ID < n.ID {
				out[firingKey{n.Fingerprint, n.ChannelID, latest}] = n
			}
		}
	}
	return out, nil
}

// firingKey finds a firing claim by alert, channel and episode (unix µs),
// or, with episode latest, the latest one notified.
type firingKey struct {
	fp      string
	channel int64
	episode int64
}

const latest = -1

// commit applies the decisions of the transaction that committed.
func (f *flushing) commit() {
	g := f.g
	for _, w := range f.work {
		g.done[w.h.fp] = w.to
		if n, ok := f.notified[w.h.fp]; ok {
			g.notified[w.h.fp] = n
		}
		w.h.trim()
	}
	if f.enqueued > 0 {
		g.lastSent = f.now
	}
	attempted := 0
	for _, w := range f.work {
		attempted += (w.to - w.from) * len(f.targets)
	}
	for _, n := range f.claimed {
		if n.Status == store.HistorySuppressed {
			f.d.m.suppressed.WithLabelValues(reasonKind(n.Reason)).Inc()
		}
	}
	f.d.m.enqueued.Add(float64(f.enqueued))
	f.d.m.claims.WithLabelValues("made").Add(float64(len(f.claimed)))
	f.d.m.claims.WithLabelValues("taken").Add(float64(max(attempted-len(f.claimed), 0)))
}

// leave drops the alerts whose last episode ended and whose every change
// is decided here; an alert in no group any more is forgotten.
func (d *Dispatcher) leave(g *group, now time.Time) {
	for fp, h := range g.alerts {
		if h.firing(now) || g.done[fp] < h.happened(now) {
			continue
		}
		delete(g.alerts, fp)
		delete(g.done, fp)
		delete(g.notified, fp)
		h.in = slices.DeleteFunc(h.in, func(x *group) bool { return x == g })
		if len(h.in) == 0 && d.alerts[fp] == h {
			delete(d.alerts, fp)
			d.finished(h, now)
		}
	}
}

// enqueue writes, per channel, the notification carrying the state
// changes decided to go out there, with the group's other firing alerts
// the channel knows of, and links the claims to it.
func (f *flushing) enqueue(tx *store.LedgerTx) error {
	byChannel := map[int64][]store.Notification{}
	for _, n := range f.claimed {
		if n.Status == store.NotificationPending {
			byChannel[n.ChannelID] = append(byChannel[n.ChannelID], n)
		}
	}
	for _, t := range f.targets {
		news := byChannel[t.ChannelID]
		if len(news) == 0 {
			continue
		}
		m := f.message(t, news)
		payload, err := json.Marshal(m)
		if err != nil {
			return err
		}
		ids := make([]int64, len(news))
		for i, n := range news {
			ids[i] = n.ID
		}
		if _, err := tx.Enqueue(store.OutboxItem{ChannelID: t.ChannelID, Payload: payload, GroupKey: f.g.key}, ids); err != nil {
			return err
		}
		f.enqueued++
	}
	return nil
}

// message is the notification to channel t: the state changes it carries
// (news), and the group's other alerts firing now that were notified
// before and are not muted, as Alertmanager lists a group.
func (f *flushing) message(t Target, news []store.Notification) *message.Message {
	var firing, resolved []template.Alert
	inNews := map[string]bool{}
	for _, n := range news {
		inNews[n.Fingerprint] = true
		h := f.g.alerts[n.Fingerprint]
		if n.Transition == store.TransitionResolved {
			resolved = append(resolved, templateAlert(h, f.episodeOf(h, n.Episode), model.AlertResolved))
			continue
		}
		firing = append(firing, templateAlert(h, f.episodeOf(h, n.Episode), model.AlertFiring))
	}
	for fp, h := range f.g.alerts {
		if !inNews[fp] && f.context(h, t) {
			firing = append(firing, templateAlert(h, h.eps[len(h.eps)-1], model.AlertFiring))
		}
	}
	return f.d.message(f.p, f.g, firing, resolved, t)
}

// context reports whether h belongs in a notification to t as an alert
// still firing that t was told of.
func (f *flushing) context(h *held, t Target) bool {
	notified, decided := f.notified[h.fp]
	if !decided {
		notified = f.g.notified[h.fp]
	}
	return notified && h.firing(f.now) && f.d.muted(f.p, h, f.now) == "" && !aboutChannel(h, t)
}

// episodeOf is h's episode that started at start.
func (f *flushing) episodeOf(h *held, start time.Time) episode {
	for _, e := range h.eps {
		if e.start.Equal(start) {
			return e
		}
	}
	return episode{start: start}
}

func templateAlert(h *held, e episode, status model.AlertStatus) template.Alert {
	a := h.alert(e)
	return template.Alert{Status: string(status), Labels: a.Labels, Annotations: a.Annotations, StartsAt: e.start,
		EndsAt: e.end, GeneratorURL: a.GeneratorURL, Fingerprint: h.fp}
}

// repeats are the claims of a repeat_interval reminder: the group's firing
// alerts the channels were told of, once per repeat period between every
// receiver sharing the store.
func (f *flushing) repeats() []store.Notification {
	period := max(f.g.timing.RepeatInterval, time.Second)
	epoch := time.Unix(0, f.now.UnixNano()/int64(period)*int64(period)).UTC()
	var out []store.Notification
	for fp, h := range f.g.alerts {
		if !f.g.notified[fp] || !h.firing(f.now) || f.d.muted(f.p, h, f.now) != "" {
			continue
		}
		for _, t := range f.targets {
			out = append(out, store.Notification{Fingerprint: fp, Episode: epoch, Transition: store.TransitionRepeat,
				ChannelID: t.ChannelID, Receiver: f.g.receiver, GroupKey: f.g.key, Peer: f.d.o.Peer})
		}
	}
	return out
}

// message builds the notification in Alertmanager's template data.
func (d *Dispatcher) message(p *Plan, g *group, firing, resolved []template.Alert, t Target) *message.Message {
	sortAlerts := func(as []template.Alert) {
		slices.SortFunc(as, func(a, b template.Alert) int {
			return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.Fingerprint, b.Fingerprint))
		})
	}
	sortAlerts(firing)
	sortAlerts(resolved)
	data := &template.Data{Receiver: g.receiver, Status: string(model.AlertFiring), ExternalURL: p.ExternalURL,
		GroupLabels: kv(g.labels), NotificationReason: "notify"}
	if len(firing) == 0 {
		data.Status = string(model.AlertResolved)
	}
	data.Alerts = append(append(data.Alerts, firing...), resolved...)
	sev := ""
	labels := make([]map[string]string, len(data.Alerts))
	annotations := make([]map[string]string, len(data.Alerts))
	for i, a := range data.Alerts {
		labels[i], annotations[i] = a.Labels, a.Annotations
		if a.Status == string(model.AlertFiring) && rank(severity(a.Labels)) > rank(sev) {
			sev = severity(a.Labels)
		}
	}
	data.CommonLabels, data.CommonAnnotations = commonKV(labels), commonKV(annotations)
	m := &message.Message{Data: data, Version: message.Version, GroupKey: g.key, Kind: message.KindAlert, Severity: sev, Language: p.Language}
	for _, a := range data.Alerts {
		if h := d.alerts[a.Fingerprint]; h != nil && h.detail != nil {
			if m.Details == nil {
				m.Details = map[string]message.Detail{}
			}
			m.Details[a.Fingerprint] = *h.detail
		}
	}
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
