package receiver

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// oneRoute groups every alert by alertname for one receiver: the route
// tree has its own tests; these are about grouping and timing.
type oneRoute struct{ t Timing }

func (r oneRoute) ID() string       { return "{}" }
func (r oneRoute) Receiver() string { return "ops" }
func (r oneRoute) GroupKey(ls model.LabelSet) string {
	return "{}:" + r.GroupLabels(ls).String()
}
func (r oneRoute) GroupLabels(ls model.LabelSet) model.LabelSet {
	return model.LabelSet{"alertname": ls["alertname"]}
}
func (r oneRoute) Timing() Timing               { return r.t }
func (r oneRoute) Match(model.LabelSet) []Route { return []Route{r} }

type rig struct {
	t     *testing.T
	store *store.Store
	d     *Dispatcher
	now   time.Time
	chans []Target
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newRig(t *testing.T, s *store.Store, timing Timing) *rig {
	r := &rig{t: t, store: s, now: t0}
	ctx := context.Background()
	for _, name := range []string{"ops/webhook/0", "ops/feishu/0"} {
		c, err := s.CreateChannel(ctx, store.Channel{Name: name, Type: "webhook", Enabled: true})
		if err != nil {
			if c, err = channelByName(s, name); err != nil {
				t.Fatal(err)
			}
		}
		r.chans = append(r.chans, Target{ChannelID: c.ID, Name: name})
	}
	r.d = NewDispatcher(DispatcherOptions{Ledger: s, Peer: "rig", Now: func() time.Time { return r.now }})
	r.d.plan = &Plan{Router: oneRoute{timing}, Targets: func(string) []Target { return r.chans }, Language: "en"}
	return r
}

func channelByName(s *store.Store, name string) (store.Channel, error) {
	cs, err := s.ListChannels(context.Background())
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return store.Channel{}, err
}

// at advances the clock and flushes what is due.
func (r *rig) at(d time.Duration) {
	r.now = t0.Add(d)
	r.d.flushDue(context.Background())
}

func (r *rig) add(as ...Alert) { r.d.take(as) }

// outbox returns the messages enqueued for the first channel, oldest first.
func (r *rig) outbox() []message.Message {
	r.t.Helper()
	items, _, err := r.store.ListOutbox(context.Background(), store.OutboxFilter{ChannelID: r.chans[0].ChannelID, Limit: 100})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []message.Message
	for i := len(items) - 1; i >= 0; i-- {
		var m message.Message
		if err := json.Unmarshal(items[i].Payload, &m); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func firingAlert(name, instance, sev string, start time.Time) Alert {
	return Alert{Labels: map[string]string{"alertname": name, "tenant_id": "t1", "plugin_id": "p1", "instance_id": instance, "severity": sev},
		Annotations: map[string]string{"summary": name + " " + instance}, StartsAt: start, EndsAt: start.Add(3 * time.Hour)}
}

func statuses(m message.Message) string {
	var s []string
	for _, a := range m.Alerts {
		s = append(s, a.Labels["instance_id"]+"="+a.Status)
	}
	return strings.Join(s, ",")
}

func TestGroupingAndTiming(t *testing.T) {
	r := newRig(t, openStore(t), Timing{GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour})
	r.add(firingAlert("PluginCPUHigh", "i1", "critical", t0), firingAlert("PluginCPUHigh", "i2", "critical", t0))
	r.at(29 * time.Second)
	if n := len(r.outbox()); n != 0 {
		t.Fatalf("before group_wait: %d messages", n)
	}
	r.at(30 * time.Second)
	ms := r.outbox()
	if len(ms) != 1 || statuses(ms[0]) != "i1=firing,i2=firing" || ms[0].Severity != "critical" || ms[0].GroupKey != `{}:{alertname="PluginCPUHigh"}` ||
		ms[0].CommonLabels["alertname"] != "PluginCPUHigh" || ms[0].CommonLabels["instance_id"] != "" {
		t.Fatalf("first flush: %+v", ms)
	}
	// Re-posted unchanged: nothing new at the next interval.
	r.add(firingAlert("PluginCPUHigh", "i1", "critical", t0))
	r.at(30*time.Second + 5*time.Minute)
	if n := len(r.outbox()); n != 1 {
		t.Fatalf("unchanged group notified again: %d", n)
	}
	// One resolves: it is told once, then leaves the group.
	res := firingAlert("PluginCPUHigh", "i2", "critical", t0)
	res.EndsAt = t0.Add(6 * time.Minute)
	r.add(res)
	r.at(30*time.Second + 10*time.Minute)
	ms = r.outbox()
	if len(ms) != 2 || statuses(ms[1]) != "i1=firing,i2=resolved" || ms[1].Status != "firing" {
		t.Fatalf("after a resolution: %v", statuses(ms[len(ms)-1]))
	}
	// The repeat interval sends the firing alert again, once.
	r.at(30*time.Second + 70*time.Minute)
	r.at(30*time.Second + 75*time.Minute)
	if ms = r.outbox(); len(ms) != 3 || statuses(ms[2]) != "i1=firing" {
		t.Fatalf("repeat: %d messages", len(ms))
	}
	// Both channels of the receiver got each message.
	items, total, _ := r.store.ListOutbox(context.Background(), store.OutboxFilter{ChannelID: r.chans[1].ChannelID})
	if total != 3 || len(items) != 3 {
		t.Fatalf("second channel: %d", total)
	}
}

func TestCooldownSuppressesAndRecords(t *testing.T) {
	r := newRig(t, openStore(t), Timing{GroupWait: time.Second, GroupInterval: time.Minute, RepeatInterval: 4 * time.Hour, Cooldown: time.Hour})
	r.add(firingAlert("PluginCPUHigh", "i1", "warning", t0))
	r.at(time.Second)
	// It resolves and fires again ten minutes later: a flap, held back.
	res := firingAlert("PluginCPUHigh", "i1", "warning", t0)
	res.EndsAt = t0.Add(2 * time.Minute)
	r.add(res)
	r.at(3 * time.Minute)
	r.add(firingAlert("PluginCPUHigh", "i1", "warning", t0.Add(10*time.Minute)))
	r.at(11 * time.Minute)
	ms := r.outbox()
	if len(ms) != 2 || statuses(ms[1]) != "i1=resolved" {
		t.Fatalf("the resolution passes, the re-fire does not: %d messages, last %s", len(ms), statuses(ms[len(ms)-1]))
	}
	hist, _, err := r.store.ListHistory(context.Background(), store.HistoryFilter{Status: store.HistorySuppressed})
	if err != nil || len(hist) != 2 || !strings.HasPrefix(hist[0].Error, `cooldown: repeats PluginCPUHigh{instance_id="i1", plugin_id="p1", severity="warning", tenant_id="t1"} notified at 2026-12-01T10:00:01Z (notification `) ||
		!hist[0].TriggeredAt.Equal(t0.Add(11*time.Minute)) ||
		!strings.HasSuffix(hist[0].Error, "; quiet until 2026-12-01T11:00:01Z") || hist[0].Transition != store.TransitionFiring ||
		!hist[0].Episode.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("suppressions in history: %v %+v", err, hist)
	}
	// A change of severity is not held back.
	r.add(firingAlert("PluginCPUHigh", "i1", "critical", t0.Add(10*time.Minute)))
	r.at(12 * time.Minute)
	if ms = r.outbox(); len(ms) != 3 || ms[2].Severity != "critical" {
		t.Fatalf("severity change: %d messages", len(ms))
	}
	// Another tenant's instance of the same id is another target.
	other := firingAlert("PluginCPUHigh", "i1", "critical", t0.Add(12*time.Minute))
	other.Labels["tenant_id"] = "t2"
	r.add(other)
	r.at(13 * time.Minute)
	if ms = r.outbox(); len(ms) != 4 || !strings.Contains(statuses(ms[3]), "i1=firing") {
		t.Fatalf("another tenant's i1 held back: %d messages", len(ms))
	}
}

// Two receivers sharing one store see the same alerts: each notification
// is written once between them.
func TestSharedStoreEnqueuesOnce(t *testing.T) {
	s := openStore(t)
	timing := Timing{GroupWait: time.Second, GroupInterval: time.Minute, RepeatInterval: time.Hour, Cooldown: time.Hour}
	a, b := newRig(t, s, timing), newRig(t, s, timing)
	for _, r := range []*rig{a, b} {
		r.add(firingAlert("GatewayErrorRate", "x", "warning", t0))
		r.at(time.Second)
	}
	if n := len(a.outbox()); n != 1 {
		t.Fatalf("%d outbox items for one notification", n)
	}
}

// An outbox that cannot be written loses nothing: the flush is tried
// again soon and the alerts are still untold meanwhile.
func TestEnqueueFailureRetries(t *testing.T) {
	s := openStore(t)
	r := newRig(t, s, Timing{GroupWait: time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour})
	r.add(firingAlert("GatewayErrorRate", "x", "warning", t0))
	r.d.o.Ledger = brokenLedger{s}
	r.at(time.Second)
	r.d.o.Ledger = s
	r.at(time.Second + retryFlush)
	if n := len(r.outbox()); n != 1 {
		t.Fatalf("after the outbox came back: %d", n)
	}
}

type brokenLedger struct{ *store.Store }

func (brokenLedger) InLedger(context.Context, time.Time, func(*store.LedgerTx) error) error {
	return store.ErrUnavailable
}

// A rule's cooldown annotation beats the route's.
func TestCooldownAnnotation(t *testing.T) {
	r := newRig(t, openStore(t), Timing{GroupWait: time.Second, GroupInterval: time.Minute, RepeatInterval: 4 * time.Hour, Cooldown: time.Hour})
	mk := func(start time.Time, ends time.Time) Alert {
		a := firingAlert("GatewayErrorRate", "i1", "warning", start)
		a.Annotations["cooldown"] = "5m"
		a.EndsAt = ends
		return a
	}
	r.add(mk(t0, t0.Add(3*time.Hour)))
	r.at(time.Second)
	r.add(mk(t0, t0.Add(2*time.Minute)))
	r.at(3 * time.Minute)
	r.add(mk(t0.Add(10*time.Minute), t0.Add(3*time.Hour))) // past the rule's 5m, within the route's 1h
	r.at(11 * time.Minute)
	if ms := r.outbox(); len(ms) != 3 || statuses(ms[2]) != "i1=firing" {
		t.Fatalf("%d messages", len(ms))
	}
}

// mute_time_intervals and active_time_intervals use Alertmanager's
// interval logic.
func TestTimeIntervals(t *testing.T) {
	cfg, err := config.Load([]byte(`receiver:
  route: {receiver: ops}
  receivers: [{name: ops}]
  time_intervals:
    - name: mornings
      time_intervals: [{times: [{start_time: "09:00", end_time: "12:00"}]}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	muted := mutedByIntervals(timeinterval.NewIntervener(cfg.Receiver.Intervals()))
	at := func(h int) time.Time { return time.Date(2026, 12, 1, h, 30, 0, 0, time.UTC) }
	if muted(Timing{MuteTimeIntervals: []string{"mornings"}}, at(10)) != "muted by time interval mornings" || muted(Timing{MuteTimeIntervals: []string{"mornings"}}, at(14)) != "" {
		t.Error("mute_time_intervals")
	}
	if muted(Timing{ActiveTimeIntervals: []string{"mornings"}}, at(10)) != "" || muted(Timing{ActiveTimeIntervals: []string{"mornings"}}, at(14)) != "outside active time interval mornings" {
		t.Error("active_time_intervals")
	}
	if muted(Timing{}, at(14)) != "" {
		t.Error("no intervals mutes nothing")
	}
}
