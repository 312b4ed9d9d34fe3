package ledgertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// runner plays one history against real daemons and gathers what the
// checker needs.
type runner struct {
	t        *testing.T
	h        *historySpec
	long     bool // soak: kill whenever, wait as long as it takes
	cfgPath  string
	dbURL    string
	sink     *sink
	ds       []*daemon
	obs      *observation
	log      []string
	suffix   string
	state    map[string]*runAlert
	silence  map[int]string // the generator's silence index → its id
	harness  []violation    // refused posts, failed restarts
	played   time.Duration  // how long the steps took
	lastPost time.Time
}

// runAlert is what was actually posted for an alert.
type runAlert struct {
	start time.Time
	ended []time.Time // episodes a lagging repeat may name
	quiet time.Time   // expiring: no new episode before this
}

func newRunner(t *testing.T, bin string, h *historySpec, long bool) *runner {
	dir := t.TempDir()
	r := &runner{t: t, h: h, long: long, cfgPath: filepath.Join(dir, "gatewarden.yml"), suffix: "a",
		state: map[string]*runAlert{}, silence: map[int]string{}}
	var err error
	if r.sink, err = newSink(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sink.close)
	if h.Peers > 1 {
		r.dbURL = postgres(t)
	}
	r.writeConfig()
	for i := range h.Peers {
		d := &daemon{idx: i, bin: bin, cfg: r.cfgPath, storage: filepath.Join(dir, fmt.Sprintf("data-%d", i)), logs: &syncBuffer{}}
		r.ds = append(r.ds, d)
		t.Cleanup(func() { _ = d.stop(true) })
	}
	r.obs = &observation{Cfg: histConfig{Cooldown: h.Cooldown, GroupWait: h.GroupWait, GroupInterval: h.GroupInterval,
		Channels: h.channels(), Peers: h.Peers}, Suffix: r.suffix}
	return r
}

func (r *runner) writeConfig() {
	if err := os.WriteFile(r.cfgPath, []byte(r.h.config(r.sink.url(), r.suffix, r.dbURL)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *runner) harm(kind, format string, args ...any) {
	r.harness = append(r.harness, violation{Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

func (r *runner) event(kind string, d int, at time.Time, suffix string) {
	r.obs.Events = append(r.obs.Events, eventRec{Kind: kind, Daemon: d, At: at, Done: time.Now(), Suffix: suffix})
}

func (r *runner) startDaemon(i int) {
	at := time.Now()
	if err := r.ds[i].start(); err != nil {
		r.t.Fatalf("seed %d: %v", r.h.Seed, err)
	}
	r.event(evStart, i, at, "")
}

func (r *runner) stopDaemon(i int, kill bool) {
	d := r.ds[i]
	if kill && !r.long {
		r.betweenFlushes(d)
	}
	at := time.Now()
	if err := d.stop(kill); err != nil {
		r.harm("daemon-stop", "%v", err)
	}
	kind := evStop
	if kill {
		kind = evKill
	}
	r.event(kind, i, at, "")
}

// betweenFlushes waits (at most 3 s) until nothing is due to be flushed
// or sent. A claim in flight when the process dies waits StaleAfter (two
// minutes) before a worker takes it back; the bounded run kills between
// sends so that it stays bounded. Graceful restarts, and the soak's
// kills, land anywhere, group_wait included.
func (r *runner) betweenFlushes(d *daemon) {
	settle := r.h.GroupWait + r.h.GroupInterval + 150*time.Millisecond
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if time.Since(r.lastPost) < settle {
			continue
		}
		due := false
		for _, st := range r.state {
			due = due || time.Now().Before(st.quiet.Add(r.h.GroupInterval))
		}
		if n, err := d.backlog(); !due && err == nil && n == 0 {
			return
		}
	}
}

// run plays the history, waits for quiet and returns the violations.
func (r *runner) run() []violation {
	for i := range r.ds {
		r.startDaemon(i)
	}
	r.obs.Start = time.Now()
	for _, s := range r.h.Steps {
		time.Sleep(s.Gap)
		at := time.Now()
		r.exec(s)
		r.log = append(r.log, fmt.Sprintf("%8.3fs %s", at.Sub(r.obs.Start).Seconds(), s))
	}
	r.played = time.Since(r.obs.Start)
	for i, d := range r.ds {
		if !d.running() {
			r.startDaemon(i)
		}
	}
	r.quiesce()
	r.collect()
	vs := append(append([]violation(nil), r.harness...), check(r.obs)...)
	for i, d := range r.ds {
		if d.running() {
			r.stopDaemon(i, false)
		}
	}
	return vs
}

func (r *runner) exec(s step) {
	// A new episode must start after the last one expired, or the daemon
	// would rightly take the post as a continuation.
	opens := s.New
	if s.Kind == stFire || s.Kind == stBatch {
		opens = s.Alerts
	}
	for _, ls := range opens {
		if d := time.Until(r.alert(ls).quiet); d > 0 {
			time.Sleep(d)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	switch s.Kind {
	case stFire, stBatch:
		var as []alertPost
		for _, ls := range s.Alerts {
			r.alert(ls).start = now
			as = append(as, r.firing(ls, now, now))
		}
		r.post(as)
	case stContinue:
		start := r.alert(s.Alerts[0]).start
		if s.NewStart {
			start = now
		}
		r.post([]alertPost{r.firing(s.Alerts[0], start, now)})
	case stResolve:
		var as []alertPost
		for _, ls := range s.Alerts {
			as = append(as, r.resolved(ls))
		}
		r.post(as)
	case stLevel, stBudget:
		as := []alertPost{r.resolved(s.Alerts[0])}
		r.alert(s.New[0]).start = now
		r.post(append(as, r.firing(s.New[0], now, now)))
	case stLag:
		st := r.alert(s.Alerts[0])
		old := st.ended[len(st.ended)-1]
		r.post([]alertPost{r.firing(s.Alerts[0], old, now)})
		r.post([]alertPost{{Labels: s.Alerts[0], StartsAt: old, EndsAt: time.Now().UTC().Truncate(time.Millisecond)}})
	case stSilence:
		r.makeSilence(s)
	case stExpireS:
		r.expireSilence(s)
	case stFail:
		r.sink.fail(s.Channel, s.Dur)
	case stReload:
		r.reload(s.SIGHUP)
	case stRestart, stKill:
		r.stopDaemon(s.Daemon, s.Kind == stKill)
		r.startDaemon(s.Daemon)
	case stDown:
		r.stopDaemon(s.Daemon, s.Kill)
	case stUp:
		r.startDaemon(s.Daemon)
	case stPause:
		time.Sleep(s.Dur)
	default:
		r.t.Fatalf("unknown step %q", s.Kind)
	}
}

func (r *runner) alert(ls model.LabelSet) *runAlert {
	fp := fingerprint(ls)
	st := r.state[fp]
	if st == nil {
		st = &runAlert{}
		r.state[fp] = st
	}
	return st
}

// firing is a firing post: endsAt an hour ahead, or ttl ahead for an
// expiring alert, which then ends unless posted again.
func (r *runner) firing(ls model.LabelSet, start, now time.Time) alertPost {
	ends := now.Add(time.Hour)
	if ls["alertname"] == expiring {
		ends = now.Add(ttl)
		st := r.alert(ls)
		st.quiet = ends.Add(time.Second)
		if len(st.ended) == 0 || !st.ended[len(st.ended)-1].Equal(st.start) {
			// It may expire before anything resolves it: a lagging
			// repeat may then name this episode.
			st.ended = append(st.ended, st.start)
		}
	}
	return alertPost{Labels: ls, StartsAt: start, EndsAt: ends}
}

func (r *runner) resolved(ls model.LabelSet) alertPost {
	st := r.alert(ls)
	if len(st.ended) == 0 || !st.ended[len(st.ended)-1].Equal(st.start) {
		st.ended = append(st.ended, st.start)
	}
	st.quiet = time.Time{}
	return alertPost{Labels: ls, StartsAt: st.start, EndsAt: time.Now().UTC().Truncate(time.Millisecond)}
}

// post sends one batch to every running daemon, as an HA pair of
// Prometheus servers does; the model takes it if any accepted it.
func (r *runner) post(as []alertPost) {
	type apiAlert struct {
		Labels      model.LabelSet    `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
	}
	body := make([]apiAlert, len(as))
	for i, a := range as {
		body[i] = apiAlert{Labels: a.Labels, Annotations: map[string]string{"summary": "ledger test " + string(a.Labels["alertname"])},
			StartsAt: a.StartsAt, EndsAt: a.EndsAt}
	}
	at := time.Now()
	defer func() { r.lastPost = time.Now() }()
	ok := false
	for _, d := range r.ds {
		if !d.running() {
			continue
		}
		// A store behind answers 503 and the sender retries (docs: Ingest);
		// Prometheus keeps at it for longer than this.
		var code int
		var msg []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; {
			code, msg, err = d.do(http.MethodPost, "/api/v2/alerts", body)
			if err == nil && code != http.StatusServiceUnavailable || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err == nil && code == http.StatusOK {
			ok = true
		} else {
			r.harm("ingest-refused", "daemon %d refused a post (%d %s %v): %v", d.idx, code, strings.TrimSpace(string(msg)), err, as)
		}
	}
	if ok {
		r.obs.Posts = append(r.obs.Posts, post{At: at, Alerts: as})
	}
}

func (r *runner) anyDaemon() *daemon {
	for _, d := range r.ds {
		if d.running() {
			return d
		}
	}
	r.t.Fatal("no daemon running")
	return nil
}

func (r *runner) makeSilence(s step) {
	type matcher struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual bool   `json:"isEqual"`
	}
	var ms []matcher
	for k, v := range s.Matchers {
		ms = append(ms, matcher{Name: k, Value: v, IsEqual: true})
	}
	at := time.Now()
	body := map[string]any{"matchers": ms, "startsAt": at.UTC(), "endsAt": at.Add(time.Hour).UTC(), "createdBy": "ledgertest", "comment": "ledger test"}
	code, b, err := r.anyDaemon().do(http.MethodPost, "/api/v2/silences", body)
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err == nil && code == http.StatusOK {
		err = json.Unmarshal(b, &out)
	}
	if err != nil || code != http.StatusOK || out.SilenceID == "" {
		r.harm("silence-refused", "POST /api/v2/silences: %d %s %v", code, b, err)
		return
	}
	r.silence[s.Silence] = out.SilenceID
	r.obs.Silences = append(r.obs.Silences, silenceRec{ID: out.SilenceID, Matchers: s.Matchers, Created: at})
}

func (r *runner) expireSilence(s step) {
	id, ok := r.silence[s.Silence]
	if !ok {
		return // its creation failed, already reported
	}
	code, b, err := r.anyDaemon().do(http.MethodDelete, "/api/v2/silence/"+id, nil)
	if err != nil || code != http.StatusOK {
		r.harm("silence-refused", "DELETE /api/v2/silence/%s: %d %s %v", id, code, b, err)
		return
	}
	for i := range r.obs.Silences {
		if r.obs.Silences[i].ID == id {
			r.obs.Silences[i].Expired = time.Now()
		}
	}
}

// reload moves every channel's URL to the other suffix and reloads each
// running daemon; a daemon that is down reads the new file when it starts.
func (r *runner) reload(sighup bool) {
	r.suffix = map[string]string{"a": "b", "b": "a"}[r.suffix]
	r.writeConfig()
	at := time.Now()
	for _, d := range r.ds {
		if d.running() {
			if err := d.reload(sighup); err != nil {
				r.harm("reload-failed", "daemon %d: %v", d.idx, err)
			}
		}
	}
	r.event(evReload, -1, at, r.suffix)
}

// quiesce waits until every owed notification has an outcome: the outbox
// is empty and the history has stopped growing for a few group intervals.
func (r *runner) quiesce() {
	var wait time.Time
	for _, st := range r.state {
		if st.quiet.After(wait) {
			wait = st.quiet
		}
	}
	if t := r.sink.failingUntil(); t.After(wait) {
		wait = t
	}
	time.Sleep(time.Until(wait) + r.h.GroupWait + r.h.GroupInterval)
	limit := 45 * time.Second
	if _, failed := r.sink.snapshot(); len(failed) > 0 {
		// Retries back off exponentially with full jitter from 1 s: a few
		// seconds of 500s can put the next attempt a minute or two away.
		limit = 3 * time.Minute
	}
	if len(r.obs.kills()) > 0 {
		limit = 4 * time.Minute // a claim killed in flight waits StaleAfter (2 min)
	}
	deadline := time.Now().Add(limit)
	poll := max(r.h.GroupInterval, 250*time.Millisecond)
	last, stable, backlog := -1, 0, 0
	for {
		var err error
		backlog = 0
		for _, d := range r.ds { // with one store, both see the same outbox
			n, e := d.backlog()
			backlog += n
			if e != nil {
				err = e
			}
		}
		total, e := r.ds[0].historyTotal()
		if e != nil {
			err = e
		}
		if err == nil && backlog == 0 && total == last {
			stable++
		} else {
			stable = 0
		}
		last = total
		if stable >= 3 {
			break
		}
		if time.Now().After(deadline) {
			r.harm("not-quiesced", "after %s: %d outbox items still owed, history at %d entries (%v)", limit, backlog, total, err)
			break
		}
		time.Sleep(poll)
	}
	r.obs.End = time.Now()
}

func (r *runner) collect() {
	var err error
	if r.obs.Entries, err = r.ds[0].history(); err != nil {
		r.t.Fatalf("reading the history: %v", err)
	}
	if r.obs.Channels, err = r.ds[0].channels(); err != nil {
		r.t.Fatalf("reading the channels: %v", err)
	}
	r.obs.Receipts, r.obs.Failing = r.sink.snapshot()
}

// report is everything needed to understand and replay a failed history.
func (r *runner) report(vs []violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger violations, seed %d (replay: GATEWARDEN_LEDGER_SEED=%d go test ./receiver/ledgertest -run TestLedgerModel -v)\n", r.h.Seed, r.h.Seed)
	fmt.Fprintf(&b, "profile: %s\n", r.h.profile())
	fmt.Fprintf(&b, "config:\n%s", indent(r.h.config(r.sink.url(), "a", r.dbURL)))
	fmt.Fprintf(&b, "steps (from %s):\n%s\n", r.obs.Start.UTC().Format("15:04:05.000"), indent(strings.Join(r.log, "\n")))
	examples := 8
	if n, err := strconv.Atoi(os.Getenv("GATEWARDEN_LEDGER_EXAMPLES")); err == nil && n > 0 {
		examples = n
	}
	fmt.Fprintf(&b, "%d violations:\n%s", len(vs), summarize(vs, examples))
	for _, d := range r.ds {
		fmt.Fprintf(&b, "daemon %d log (tail):\n%s\n", d.idx, indent(d.logs.tail(15)))
	}
	return b.String()
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
