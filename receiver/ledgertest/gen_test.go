package ledgertest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// A history is generated whole from its seed before it runs, so a seed
// replays the same steps; only the times they carry are real.

// Step kinds.
const (
	stFire     = "fire"     // a new episode, startsAt now
	stContinue = "continue" // re-post while firing
	stResolve  = "resolve"
	stLag      = "lag"    // the HA pair's lagging member repeats an ended episode, then resolves it
	stLevel    = "level"  // old severity resolved, new one firing, one batch
	stBatch    = "batch"  // many alerts of one type and target at once
	stBudget   = "budget" // a budget period rolls over
	stSilence  = "silence"
	stExpireS  = "unsilence"
	stFail     = "fail" // a channel answers 500 for a while
	stReload   = "reload"
	stRestart  = "restart"
	stKill     = "kill"
	stDown     = "down" // a peer stops and stays down for a few steps
	stUp       = "up"
	stPause    = "pause"
)

type step struct {
	Kind     string
	Gap      time.Duration    // sleep before it
	Alerts   []model.LabelSet // what it posts about
	New      []model.LabelSet // level, budget: the alerts that replace Alerts
	NewStart bool             // continue: with a startsAt of now, as a sender that restarted
	Daemon   int
	Kill     bool // down: kill -9 rather than SIGTERM
	SIGHUP   bool
	Silence  int               // index of the silence it makes or expires
	Matchers map[string]string // silence
	Channel  string            // fail
	Dur      time.Duration     // fail, pause
}

func (s step) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	for i, ls := range s.Alerts {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString(",")
		}
		b.WriteString(ls.String())
	}
	for _, ls := range s.New {
		b.WriteString(" → " + ls.String())
	}
	switch s.Kind {
	case stContinue:
		if s.NewStart {
			b.WriteString(" (new startsAt)")
		}
	case stSilence:
		fmt.Fprintf(&b, " #%d %v", s.Silence, s.Matchers)
	case stExpireS:
		fmt.Fprintf(&b, " #%d", s.Silence)
	case stFail:
		fmt.Fprintf(&b, " %s for %s", s.Channel, s.Dur)
	case stReload:
		if s.SIGHUP {
			b.WriteString(" (SIGHUP)")
		}
	case stRestart, stKill, stUp:
		fmt.Fprintf(&b, " daemon %d", s.Daemon)
	case stDown:
		fmt.Fprintf(&b, " daemon %d kill=%v", s.Daemon, s.Kill)
	case stPause:
		fmt.Fprintf(&b, " %s", s.Dur)
	}
	return b.String()
}

type historySpec struct {
	Seed          int64
	Peers         int // 2: an HA pair on one PostgreSQL database
	Cooldown      time.Duration
	GroupBy       []string
	GroupWait     time.Duration
	GroupInterval time.Duration
	// Channels: one webhook; two webhooks of one receiver; or two
	// receivers reached through `continue`.
	ChannelMode int
	Kills       bool
	Steps       []step
}

func (h *historySpec) channels() []string {
	switch h.ChannelMode {
	case 1:
		return []string{"hooks/webhook/0", "hooks/webhook/1"}
	case 2:
		return []string{"hooks/webhook/0", "other/webhook/0"}
	}
	return []string{"hooks/webhook/0"}
}

func (h *historySpec) profile() string {
	return fmt.Sprintf("peers=%d cooldown=%s group_by=%v group_wait=%s group_interval=%s channels=%v kills=%v steps=%d",
		h.Peers, h.Cooldown, h.GroupBy, h.GroupWait, h.GroupInterval, h.channels(), h.Kills, len(h.Steps))
}

// config is the daemon's gatewarden.yml: a receiver section only, the
// webhooks under sinkURL with the path suffix a reload moves.
func (h *historySpec) config(sinkURL, suffix, dbURL string) string {
	var b strings.Builder
	b.WriteString("rule_files: []\n")
	if dbURL != "" {
		fmt.Fprintf(&b, "storage:\n  database_url: %q\n", dbURL)
	}
	hook := func(ch string) string { return fmt.Sprintf("{url: %q}", sinkURL+channelPath(ch)+suffix) }
	quoted := make([]string, len(h.GroupBy))
	for i, l := range h.GroupBy {
		quoted[i] = fmt.Sprintf("%q", l)
	}
	fmt.Fprintf(&b, "receiver:\n  cooldown: %s\n  route:\n    receiver: hooks\n    group_by: [%s]\n", model.Duration(h.Cooldown), strings.Join(quoted, ", "))
	fmt.Fprintf(&b, "    group_wait: %s\n    group_interval: %s\n    repeat_interval: 1000h\n", model.Duration(h.GroupWait), model.Duration(h.GroupInterval))
	chs := h.channels()
	switch h.ChannelMode {
	case 1:
		fmt.Fprintf(&b, "  receivers:\n    - name: hooks\n      webhook_configs: [%s, %s]\n", hook(chs[0]), hook(chs[1]))
	case 2:
		// Child routes without matchers take every alert; continue lets
		// the second one take it too (the parent's receiver is only the
		// fallback, as in Alertmanager).
		b.WriteString("    routes:\n      - {receiver: hooks, continue: true}\n      - {receiver: other}\n")
		fmt.Fprintf(&b, "  receivers:\n    - name: hooks\n      webhook_configs: [%s]\n    - name: other\n      webhook_configs: [%s]\n", hook(chs[0]), hook(chs[1]))
	default:
		fmt.Fprintf(&b, "  receivers:\n    - name: hooks\n      webhook_configs: [%s]\n", hook(chs[0]))
	}
	fmt.Fprintf(&b, "  inhibit_rules:\n    - source_matchers: ['alertname=%q']\n      target_matchers: ['severity=%q']\n      equal: [%s]\n",
		inhibitSource, inhibitSeverity, inhibitEqual)
	return b.String()
}

// genAlert is the generator's logical view of one alert.
type genAlert struct {
	ls     model.LabelSet
	firing bool
	ended  bool // has an ended episode a lagging member could repeat
}

type generator struct {
	r       *rand.Rand
	h       *historySpec
	alerts  map[string]*genAlert
	order   []string // fingerprints in creation order, for determinism
	level   map[string]string
	period  map[string]int
	active  []int // silences not yet expired
	nSil    int
	down    int // the daemon that is down, or -1
	downFor int // steps until it comes back
}

// expiring alerts are always posted with endsAt ttl ahead, as Prometheus
// posts every alert: they end when the re-posts stop. (Re-posting a firing
// alert with an earlier endsAt would not end it sooner: Alertmanager's
// merge keeps the later endsAt of a firing alert.)
const (
	expiring = "Expiring"
	ttl      = 1500 * time.Millisecond
)

var (
	masters = []string{"m1", "m2"}
	// periodBase is a fixed time so that a seed names the same labels.
	periodBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// genHistory makes the history of a seed. pg forces (1) or forbids (0)
// the HA pair on PostgreSQL; -1 lets the seed choose.
func genHistory(seed int64, pg int) *historySpec {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	h := &historySpec{Seed: seed, Peers: 1}
	if pg == 1 || pg == -1 && r.IntN(4) == 0 {
		h.Peers = 2
	}
	if r.IntN(3) == 0 {
		h.Cooldown = time.Hour
	}
	h.GroupBy = [][]string{{"..."}, {"alertname"}, {"alertname", "master"}, {"alertname", "id"}}[r.IntN(4)]
	h.GroupWait = time.Duration(200+r.IntN(4)*100) * time.Millisecond
	h.GroupInterval = time.Duration(500+r.IntN(3)*250) * time.Millisecond
	h.ChannelMode = r.IntN(3)
	h.Kills = r.IntN(2) == 0
	n := 20 + r.IntN(16)
	g := &generator{r: r, h: h, alerts: map[string]*genAlert{}, level: map[string]string{}, period: map[string]int{}, down: -1}
	for tries := 0; len(h.Steps) < n && tries < 20*n; tries++ {
		s, ok := g.next()
		if !ok {
			continue
		}
		s.Gap = time.Duration(20+r.IntN(280)) * time.Millisecond
		h.Steps = append(h.Steps, s)
	}
	if g.down >= 0 {
		h.Steps = append(h.Steps, step{Kind: stUp, Daemon: g.down, Gap: 100 * time.Millisecond})
	}
	return h
}

func (g *generator) alert(ls model.LabelSet) *genAlert {
	fp := fingerprint(ls)
	a := g.alerts[fp]
	if a == nil {
		a = &genAlert{ls: ls}
		g.alerts[fp] = a
		g.order = append(g.order, fp)
	}
	return a
}

func (g *generator) pick(ss []string) string { return ss[g.r.IntN(len(ss))] }

// pool is the alerts fire and resolve choose from: plain warnings (the
// inhibit rule's targets), the inhibiting sources, and alerts posted with
// a short endsAt that expire when nobody re-posts them (see ttl).
func (g *generator) pool() []model.LabelSet {
	var out []model.LabelSet
	for _, m := range masters {
		for _, id := range []string{"1", "2"} {
			out = append(out, model.LabelSet{"alertname": "Plain", "master": model.LabelValue(m), "id": model.LabelValue(id), "severity": "warning"})
		}
		out = append(out, model.LabelSet{"alertname": inhibitSource, "master": model.LabelValue(m), "severity": "critical"},
			model.LabelSet{"alertname": expiring, "master": model.LabelValue(m), "severity": "warning"})
	}
	return out
}

func (g *generator) matching(pred func(*genAlert) bool) []*genAlert {
	var out []*genAlert
	for _, fp := range g.order {
		if a := g.alerts[fp]; pred(a) {
			out = append(out, a)
		}
	}
	return out
}

type choice struct {
	w    int
	make func() (step, bool)
}

func (g *generator) next() (step, bool) {
	if g.down >= 0 {
		if g.downFor--; g.downFor <= 0 {
			s := step{Kind: stUp, Daemon: g.down}
			g.down = -1
			return s, true
		}
	}
	cs := []choice{
		{20, g.fire}, {10, g.cont}, {15, g.resolve}, {4, g.lag}, {6, g.levelChange}, {6, g.batch},
		{5, g.budget}, {4, g.silence}, {4, g.unsilence}, {5, g.pause},
		{3, g.fail}, {3, g.reload},
	}
	if g.h.Kills {
		cs = append(cs, choice{3, g.restart}, choice{3, g.kill})
	}
	if g.h.Peers > 1 {
		cs = append(cs, choice{3, g.peerDown})
	}
	total := 0
	for _, c := range cs {
		total += c.w
	}
	x := g.r.IntN(total)
	for _, c := range cs {
		if x -= c.w; x < 0 {
			return c.make()
		}
	}
	return step{}, false
}

func (g *generator) fire() (step, bool) {
	var cands []*genAlert
	for _, ls := range g.pool() {
		if a := g.alert(ls); !a.firing {
			cands = append(cands, a)
		}
	}
	if len(cands) == 0 {
		return step{}, false
	}
	a := cands[g.r.IntN(len(cands))]
	a.firing = true
	return step{Kind: stFire, Alerts: []model.LabelSet{a.ls}}, true
}

func (g *generator) firingOne() *genAlert {
	cands := g.matching(func(a *genAlert) bool { return a.firing })
	if len(cands) == 0 {
		return nil
	}
	return cands[g.r.IntN(len(cands))]
}

func (g *generator) cont() (step, bool) {
	a := g.firingOne()
	if a == nil {
		return step{}, false
	}
	// A continuation with a new startsAt needs the episode still open when
	// it lands, which an expiring alert does not promise.
	return step{Kind: stContinue, Alerts: []model.LabelSet{a.ls}, NewStart: a.ls["alertname"] != expiring && g.r.IntN(4) == 0}, true
}

func (g *generator) resolve() (step, bool) {
	a := g.firingOne()
	if a == nil {
		return step{}, false
	}
	a.firing, a.ended = false, true
	return step{Kind: stResolve, Alerts: []model.LabelSet{a.ls}}, true
}

func (g *generator) lag() (step, bool) {
	cands := g.matching(func(a *genAlert) bool { return !a.firing && a.ended })
	if len(cands) == 0 {
		return step{}, false
	}
	return step{Kind: stLag, Alerts: []model.LabelSet{cands[g.r.IntN(len(cands))].ls}}, true
}

func (g *generator) levelChange() (step, bool) {
	m := g.pick(masters)
	ls := func(sev string) model.LabelSet {
		return model.LabelSet{"alertname": "Level", "master": model.LabelValue(m), "severity": model.LabelValue(sev)}
	}
	cur := g.level[m]
	next := g.pick([]string{"warning", "critical", "info"})
	if cur == "" {
		g.level[m] = next
		g.alert(ls(next)).firing = true
		return step{Kind: stFire, Alerts: []model.LabelSet{ls(next)}}, true
	}
	if next == cur {
		g.level[m] = ""
		a := g.alert(ls(cur))
		a.firing, a.ended = false, true
		return step{Kind: stResolve, Alerts: []model.LabelSet{ls(cur)}}, true
	}
	g.level[m] = next
	old := g.alert(ls(cur))
	old.firing, old.ended = false, true
	g.alert(ls(next)).firing = true
	return step{Kind: stLevel, Alerts: []model.LabelSet{ls(cur)}, New: []model.LabelSet{ls(next)}}, true
}

// batch fires the idle ones of a set of alerts of one type and target, or
// resolves the firing ones: one group holding many alerts.
func (g *generator) batch() (step, bool) {
	var all []*genAlert
	for i := 1; i <= 6; i++ {
		all = append(all, g.alert(model.LabelSet{"alertname": "Many", "master": "m3", "id": model.LabelValue(fmt.Sprint(i)), "severity": "info"}))
	}
	var firing, idle []model.LabelSet
	for _, a := range all {
		if a.firing {
			firing = append(firing, a.ls)
		} else {
			idle = append(idle, a.ls)
		}
	}
	if len(firing) > len(idle) || len(firing) > 0 && g.r.IntN(2) == 0 {
		for _, a := range all {
			if a.firing {
				a.firing, a.ended = false, true
			}
		}
		return step{Kind: stResolve, Alerts: firing}, true
	}
	for _, a := range all {
		a.firing = true
	}
	return step{Kind: stBatch, Alerts: idle}, true
}

func (g *generator) budget() (step, bool) {
	m := g.pick(masters)
	ls := func(p int) model.LabelSet {
		return model.LabelSet{"alertname": "GatewayBudgetStep", "master": model.LabelValue(m), "step": "0.5",
			"period_start": model.LabelValue(periodBase.AddDate(0, 0, p).Format(time.RFC3339)), "severity": "warning"}
	}
	cur := g.alert(ls(g.period[m]))
	if !cur.firing {
		cur.firing = true
		return step{Kind: stFire, Alerts: []model.LabelSet{cur.ls}}, true
	}
	g.period[m]++
	cur.firing, cur.ended = false, true
	g.alert(ls(g.period[m])).firing = true
	return step{Kind: stBudget, Alerts: []model.LabelSet{cur.ls}, New: []model.LabelSet{ls(g.period[m])}}, true
}

func (g *generator) silence() (step, bool) {
	if len(g.active) >= 2 {
		return step{}, false
	}
	ms := []map[string]string{
		{"alertname": "Plain", "master": g.pick(masters)}, {"alertname": "Many"}, {"alertname": "Level"}, {"master": "m2"},
	}[g.r.IntN(4)]
	s := step{Kind: stSilence, Silence: g.nSil, Matchers: ms}
	g.active = append(g.active, g.nSil)
	g.nSil++
	return s, true
}

func (g *generator) unsilence() (step, bool) {
	if len(g.active) == 0 {
		return step{}, false
	}
	i := g.r.IntN(len(g.active))
	s := step{Kind: stExpireS, Silence: g.active[i]}
	g.active = append(g.active[:i], g.active[i+1:]...)
	return s, true
}

func (g *generator) pause() (step, bool) {
	return step{Kind: stPause, Dur: g.h.GroupInterval/2 + time.Duration(g.r.IntN(int(g.h.GroupInterval)))}, true
}

// fail keeps failures short: retries back off exponentially (1 s base),
// and a long failure would make the history wait for its retries.
func (g *generator) fail() (step, bool) {
	chs := g.h.channels()
	return step{Kind: stFail, Channel: chs[g.r.IntN(len(chs))], Dur: time.Duration(1000+g.r.IntN(2000)) * time.Millisecond}, true
}

func (g *generator) reload() (step, bool) {
	return step{Kind: stReload, SIGHUP: g.r.IntN(2) == 0}, true
}

func (g *generator) restart() (step, bool) {
	if g.down >= 0 {
		return step{}, false
	}
	return step{Kind: stRestart, Daemon: g.r.IntN(g.h.Peers)}, true
}

func (g *generator) kill() (step, bool) {
	if g.down >= 0 {
		return step{}, false
	}
	return step{Kind: stKill, Daemon: g.r.IntN(g.h.Peers)}, true
}

func (g *generator) peerDown() (step, bool) {
	if g.down >= 0 {
		return step{}, false
	}
	g.down, g.downFor = g.r.IntN(2), 2+g.r.IntN(5)
	return step{Kind: stDown, Daemon: g.down, Kill: g.h.Kills && g.r.IntN(2) == 0}, true
}
