package ledgertest

import (
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The checker is proven on hand-written histories: each case is a small
// observation that must pass, or must be flagged with exactly the listed
// kinds of violation.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

var (
	alertA  = model.LabelSet{"alertname": "Plain", "master": "m1", "id": "1", "severity": "warning"}
	alertB  = model.LabelSet{"alertname": "Plain", "master": "m1", "id": "2", "severity": "warning"}
	source1 = model.LabelSet{"alertname": inhibitSource, "master": "m1", "severity": "critical"}
)

const hooks = "hooks/webhook/0"

type fixture struct {
	o       *observation
	nextBox int64
}

func newFixture() *fixture {
	return &fixture{o: &observation{
		Cfg:      histConfig{GroupWait: 200 * time.Millisecond, GroupInterval: 500 * time.Millisecond, Channels: []string{hooks}, Peers: 1},
		Channels: map[int64]string{1: hooks}, Suffix: "a", Start: t0, End: at(60_000),
	}}
}

func (f *fixture) post(ms int, ls model.LabelSet, startMs int, ends time.Time) {
	f.o.Posts = append(f.o.Posts, post{At: at(ms), Alerts: []alertPost{{Labels: ls, StartsAt: at(startMs), EndsAt: ends}}})
}

func (f *fixture) fire(ms int, ls model.LabelSet, startMs int) {
	f.post(ms, ls, startMs, at(ms).Add(time.Hour))
}

func (f *fixture) resolve(ms int, ls model.LabelSet, startMs int) { f.post(ms, ls, startMs, at(ms)) }

// entry records a history entry decided at decidedMs.
func (f *fixture) entry(ls model.LabelSet, transition string, startMs int, status, reason string, decidedMs int) *entry {
	sec := at(decidedMs).Unix()
	s := at(startMs).Unix()
	f.o.Entries = append(f.o.Entries, entry{ID: int64(len(f.o.Entries) + 1), ChannelID: 1, TriggeredAt: &sec, Status: status, Error: reason,
		Attempt: 1, Fingerprint: fingerprint(ls), Transition: transition, StartsAt: &s, Episode: at(startMs).Format(time.RFC3339Nano), Peer: "p1"})
	return &f.o.Entries[len(f.o.Entries)-1]
}

// sent records a sent entry and the sink's receipt of its notification.
func (f *fixture) sent(ls model.LabelSet, transition string, startMs, ms int) *entry {
	e := f.entry(ls, transition, startMs, "sent", "", ms)
	f.nextBox++
	e.OutboxID = f.nextBox
	f.receive(ms, e.OutboxID, "/hooks/0/a", ls, transition, startMs)
	return e
}

func (f *fixture) receive(ms int, box int64, path string, ls model.LabelSet, status string, startMs int) {
	labels := map[string]string{}
	for k, v := range ls {
		labels[string(k)] = string(v)
	}
	r := receipt{At: at(ms), Path: path, OutboxID: box, Header: strconv.FormatInt(box, 10), Code: 200,
		Body: webhookBody{Version: "4", Status: status, Alerts: []webhookAlert{{Status: status, Labels: labels, StartsAt: at(startMs), Fingerprint: fingerprint(ls)}}}}
	if box == 0 {
		r.Header = ""
	}
	r.Channel, r.Suffix = parsePath(path)
	f.o.Receipts = append(f.o.Receipts, r)
}

// episodeA is alert A firing at 0 and resolved at 2 s, both sent.
func episodeA(f *fixture) {
	f.fire(0, alertA, 0)
	f.resolve(2000, alertA, 0)
	f.sent(alertA, transFiring, 0, 300)
	f.sent(alertA, transResolved, 0, 2300)
}

func TestLedgerChecker(t *testing.T) {
	cases := []struct {
		name  string
		build func(f *fixture)
		want  []string
	}{
		{"an episode sent and resolved", episodeA, nil},
		{"a resolution with no entry", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(2000, alertA, 0)
			f.sent(alertA, transFiring, 0, 300)
		}, []string{"missing"}},
		{"two entries for one change", func(f *fixture) {
			episodeA(f)
			f.sent(alertA, transFiring, 0, 400)
		}, []string{"duplicate"}},
		{"a re-post with another startsAt continues the episode", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.fire(1000, alertA, 1000)
			f.resolve(2000, alertA, 0)
			f.sent(alertA, transFiring, 0, 300)
			f.sent(alertA, transResolved, 0, 2300)
		}, nil},
		{"an entry for an episode a continuation did not open", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.fire(1000, alertA, 1000)
			f.sent(alertA, transFiring, 0, 300)
			f.sent(alertA, transFiring, 1000, 1300)
		}, []string{"unowed-entry"}},
		{"the lagging HA member repeats the ended episode", func(f *fixture) {
			episodeA(f)
			f.fire(2500, alertA, 0)
			f.resolve(2600, alertA, 0)
		}, nil},
		{"a re-fire is a new episode", func(f *fixture) {
			episodeA(f)
			f.fire(3000, alertA, 3000)
		}, []string{"missing"}},
		{"an expired alert owes its resolution", func(f *fixture) {
			f.post(0, alertA, 0, at(1500))
			f.sent(alertA, transFiring, 0, 300)
		}, []string{"missing"}},
		{"an expired alert resolved", func(f *fixture) {
			f.post(0, alertA, 0, at(1500))
			f.sent(alertA, transFiring, 0, 300)
			f.sent(alertA, transResolved, 0, 2000)
		}, nil},
		{"a cooldown while the cooldown is off", func(f *fixture) {
			episodeA(f)
			f.fire(3000, alertA, 3000)
			f.entry(alertA, transFiring, 3000, "suppressed", "cooldown: repeats Plain{…} notified at x (history 1); quiet until y", 3300)
			f.resolve(4000, alertA, 3000)
			f.entry(alertA, transResolved, 3000, "suppressed", "not notified as firing (cooldown)", 4300)
		}, []string{"bad-reason"}},
		{"a cooldown repeating the same alert", func(f *fixture) {
			f.o.Cfg.Cooldown = time.Hour
			episodeA(f)
			f.fire(3000, alertA, 3000)
			f.entry(alertA, transFiring, 3000, "suppressed", "cooldown: repeats Plain{…} notified at x (history 1); quiet until y", 3300)
			f.resolve(4000, alertA, 3000)
			f.entry(alertA, transResolved, 3000, "suppressed", "not notified as firing (cooldown)", 4300)
		}, nil},
		{"a cooldown naming the wrong history entry", func(f *fixture) {
			f.o.Cfg.Cooldown = time.Hour
			episodeA(f)
			f.fire(3000, alertA, 3000)
			f.entry(alertA, transFiring, 3000, "suppressed", "cooldown: repeats Plain{…} notified at x (history 2); quiet until y", 3300)
		}, []string{"bad-reason"}},
		{"a cooldown folding a different alert", func(f *fixture) {
			f.o.Cfg.Cooldown = time.Hour
			episodeA(f)
			f.fire(3000, alertB, 3000)
			f.entry(alertB, transFiring, 3000, "suppressed", "cooldown: repeats Plain{…} notified at x (history 1); quiet until y", 3300)
		}, []string{"bad-reason"}},
		{"a repeat sent within the cooldown", func(f *fixture) {
			f.o.Cfg.Cooldown = time.Hour
			episodeA(f)
			f.fire(3000, alertA, 3000)
			f.sent(alertA, transFiring, 3000, 3300)
		}, []string{"cooldown-not-held"}},
		{"a resolution held by the cooldown", func(f *fixture) {
			f.o.Cfg.Cooldown = time.Hour
			f.fire(0, alertA, 0)
			f.resolve(2000, alertA, 0)
			f.sent(alertA, transFiring, 0, 300)
			f.entry(alertA, transResolved, 0, "suppressed", "cooldown: repeats it", 2300)
		}, []string{"bad-reason"}},
		{"silenced while the silence was active", func(f *fixture) {
			f.o.Silences = []silenceRec{{ID: "s1", Matchers: map[string]string{"alertname": "Plain"}, Created: at(0), Expired: at(10_000)}}
			f.fire(100, alertA, 100)
			f.entry(alertA, transFiring, 100, "suppressed", "silenced by s1", 400)
		}, nil},
		{"silenced by a silence never made", func(f *fixture) {
			f.fire(100, alertA, 100)
			f.entry(alertA, transFiring, 100, "suppressed", "silenced by s9", 400)
		}, []string{"bad-reason"}},
		{"silenced long after the silence expired", func(f *fixture) {
			f.o.Silences = []silenceRec{{ID: "s1", Matchers: map[string]string{"alertname": "Plain"}, Created: at(0), Expired: at(1000)}}
			f.fire(20_000, alertA, 20_000)
			f.entry(alertA, transFiring, 20_000, "suppressed", "silenced by s1", 20_300)
		}, []string{"bad-reason"}},
		{"silenced by a silence that does not match", func(f *fixture) {
			f.o.Silences = []silenceRec{{ID: "s1", Matchers: map[string]string{"alertname": "Other"}, Created: at(0)}}
			f.fire(100, alertA, 100)
			f.entry(alertA, transFiring, 100, "suppressed", "silenced by s1", 400)
		}, []string{"bad-reason"}},
		{"sent while a silence was active throughout", func(f *fixture) {
			f.o.Silences = []silenceRec{{ID: "s1", Matchers: map[string]string{"alertname": "Plain"}, Created: at(0)}}
			f.fire(10_000, alertA, 10_000)
			f.sent(alertA, transFiring, 10_000, 10_300)
		}, []string{"sent-while-muted"}},
		{"inhibited while the source fired", func(f *fixture) {
			f.fire(0, source1, 0)
			f.sent(source1, transFiring, 0, 300)
			f.fire(1000, alertA, 1000)
			f.entry(alertA, transFiring, 1000, "suppressed", "inhibited by Source{master=m1} ("+fingerprint(source1)+")", 1300)
		}, nil},
		{"inhibited by a source that was not firing", func(f *fixture) {
			f.fire(0, source1, 0)
			f.resolve(1000, source1, 0)
			f.sent(source1, transFiring, 0, 300)
			f.sent(source1, transResolved, 0, 1300)
			f.fire(20_000, alertA, 20_000)
			f.entry(alertA, transFiring, 20_000, "suppressed", "inhibited by Source{master=m1} ("+fingerprint(source1)+")", 20_300)
		}, []string{"bad-reason"}},
		{"resolved before it was notified, within group_wait", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(100, alertA, 0)
			f.entry(alertA, transFiring, 0, "suppressed", "resolved before it was notified", 300)
			f.entry(alertA, transResolved, 0, "suppressed", "not notified as firing (resolved before it was notified)", 300)
		}, nil},
		{"resolved before it was notified, yet it lasted long", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(10_000, alertA, 0)
			f.entry(alertA, transFiring, 0, "suppressed", "resolved before it was notified", 10_300)
			f.entry(alertA, transResolved, 0, "suppressed", "not notified as firing (resolved before it was notified)", 10_300)
		}, []string{"bad-reason"}},
		{"resolved before it was notified across a restart", func(f *fixture) {
			f.o.Events = []eventRec{{Kind: evKill, At: at(100)}, {Kind: evStart, At: at(200), Done: at(9000)}}
			f.fire(0, alertA, 0)
			f.resolve(10_000, alertA, 0)
			f.entry(alertA, transFiring, 0, "suppressed", "resolved before it was notified", 10_300)
			f.entry(alertA, transResolved, 0, "suppressed", "not notified as firing (resolved before it was notified)", 10_300)
		}, nil},
		{"a resolution sent though its firing was not", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(100, alertA, 0)
			f.entry(alertA, transFiring, 0, "suppressed", "resolved before it was notified", 300)
			f.sent(alertA, transResolved, 0, 300)
		}, []string{"bad-status"}},
		{"not notified as firing though it was", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(2000, alertA, 0)
			f.sent(alertA, transFiring, 0, 300)
			f.entry(alertA, transResolved, 0, "suppressed", "not notified as firing (silenced by s1)", 2300)
		}, []string{"bad-reason"}},
		{"superseded by a later episode", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(2000, alertA, 0)
			f.fire(2100, alertA, 2100)
			f.sent(alertA, transFiring, 0, 300)
			f.entry(alertA, transResolved, 0, "suppressed", "superseded: fired again at x before the resolution was notified", 2500)
			f.sent(alertA, transFiring, 2100, 2500)
		}, nil},
		{"superseded with no later episode", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.resolve(2000, alertA, 0)
			f.sent(alertA, transFiring, 0, 300)
			f.entry(alertA, transResolved, 0, "suppressed", "superseded: fired again at x before the resolution was notified", 2500)
		}, []string{"bad-reason"}},
		{"an unknown reason", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.entry(alertA, transFiring, 0, "suppressed", "delivered by a peer", 300)
		}, []string{"unknown-reason"}},
		{"failed though the sink recovered", func(f *fixture) {
			f.fire(0, alertA, 0)
			f.entry(alertA, transFiring, 0, "failed", "500 Internal Server Error", 300)
		}, []string{"failed"}},
		{"an entry without the ledger's fields", func(f *fixture) {
			f.fire(0, alertA, 0)
			e := f.sent(alertA, transFiring, 0, 300)
			e.Fingerprint, e.Transition, e.Episode = "", "", ""
		}, []string{"entry-unkeyed", "missing"}},
		{"an entry naming no peer", func(f *fixture) {
			episodeA(f)
			f.o.Entries[0].Peer = ""
		}, []string{"entry-no-peer"}},
		{"sent but never received", func(f *fixture) {
			episodeA(f)
			f.o.Receipts = f.o.Receipts[:1]
		}, []string{"sent-unmatched"}},
		{"received carrying another status", func(f *fixture) {
			f.fire(0, alertA, 0)
			e := f.entry(alertA, transFiring, 0, "sent", "", 300)
			e.OutboxID = 7
			f.receive(300, 7, "/hooks/0/a", alertA, transResolved, 0)
		}, []string{"sent-unmatched"}},
		{"received without the notification header", func(f *fixture) {
			episodeA(f)
			f.receive(2400, 0, "/hooks/0/a", alertA, transResolved, 0)
		}, []string{"no-notification-header"}},
		{"delivered twice", func(f *fixture) {
			episodeA(f)
			f.receive(2400, 2, "/hooks/0/a", alertA, transResolved, 0)
		}, []string{"delivered-twice"}},
		{"delivered again after a kill -9", func(f *fixture) {
			episodeA(f)
			f.o.Events = []eventRec{{Kind: evKill, At: at(2350)}}
			f.receive(4000, 2, "/hooks/0/a", alertA, transResolved, 0)
		}, nil},
		{"delivered with no entry saying sent", func(f *fixture) {
			episodeA(f)
			f.receive(5000, 99, "/hooks/0/a", alertA, transResolved, 0)
		}, []string{"unowed-delivery"}},
		{"sent to the old URL after a reload", func(f *fixture) {
			f.o.Events = []eventRec{{Kind: evReload, At: at(1000), Done: at(1100), Suffix: "b"}}
			episodeA(f) // the resolution, at 2.3 s, still goes to /a
		}, []string{"reload-not-applied"}},
		{"sent to the new URL after a reload", func(f *fixture) {
			f.o.Events = []eventRec{{Kind: evReload, At: at(1000), Done: at(1100), Suffix: "b"}}
			episodeA(f)
			f.o.Receipts[1].Path, f.o.Receipts[1].Suffix = "/hooks/0/b", "b"
		}, nil},
		{"a channel's failure alert sent to that channel", func(f *fixture) {
			episodeA(f)
			cf := model.LabelSet{"alertname": channelFailing, "channel": hooks, "severity": "critical", "type": "channel_failing"}
			f.sent(cf, transFiring, 1000, 1500)
		}, []string{"own-failure-delivered"}},
		{"two channels, one without entries", func(f *fixture) {
			f.o.Cfg.Channels = []string{hooks, "other/webhook/0"}
			f.o.Channels[2] = "other/webhook/0"
			episodeA(f)
		}, []string{"missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			c.build(f)
			vs := check(f.o)
			var got []string
			for _, v := range vs {
				if !slices.Contains(got, v.Kind) {
					got = append(got, v.Kind)
				}
			}
			sort.Strings(got)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("violation kinds %v, want %v:\n%s", got, want, summarize(vs, 5))
			}
		})
	}
}

// TestLedgerGeneratorReplays: a seed is a history, so a reported seed
// replays what failed.
func TestLedgerGeneratorReplays(t *testing.T) {
	for seed := int64(1); seed <= 50; seed++ {
		a, b := genHistory(seed, -1), genHistory(seed, -1)
		if a.profile() != b.profile() || len(a.Steps) != len(b.Steps) {
			t.Fatalf("seed %d: two different histories", seed)
		}
		for i := range a.Steps {
			if a.Steps[i].String() != b.Steps[i].String() || a.Steps[i].Gap != b.Steps[i].Gap {
				t.Fatalf("seed %d step %d: %s vs %s", seed, i, a.Steps[i], b.Steps[i])
			}
		}
		if n := len(a.Steps); n < 20 {
			t.Errorf("seed %d: only %d steps", seed, n)
		}
	}
}
