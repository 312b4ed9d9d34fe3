package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/receiver/webhook"
)

// The findings of issue 14, each tried against the real binary the way an
// operator met it, with a plain webhook sink standing in for a channel.

// hookSink is a webhook receiver recording every notification it takes:
// the path, the outbox id gatewarden names, and Alertmanager's payload. A
// path with a secret has its signature checked.
type hookSink struct {
	t       *testing.T
	url     string
	secrets map[string]string // path → secret
	mu      sync.Mutex
	got     []hookNote
}

type hookNote struct {
	Path, ID string
	Status   string
	Alerts   []struct {
		Status      string
		Labels      map[string]string
		Annotations map[string]string
		StartsAt    time.Time
		Fingerprint string
	}
}

func newHookSink(t *testing.T, secrets map[string]string) *hookSink {
	s := &hookSink{t: t, secrets: secrets}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if secret := s.secrets[r.URL.Path]; secret != "" {
			err := webhook.Verify([]byte(secret), r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Now(), time.Minute)
			if err != nil {
				s.t.Errorf("%s: signature not made with the path's secret: %v", r.URL.Path, err)
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		n := hookNote{Path: r.URL.Path, ID: r.Header.Get(webhook.HeaderNotification)}
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, n)
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// count is how many notified alerts match: status "" is any, and every
// label given must hold.
func (s *hookSink) count(path, status string, labels ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, note := range s.got {
		if path != "" && note.Path != path {
			continue
		}
	alert:
		for _, a := range note.Alerts {
			if status != "" && a.Status != status {
				continue
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if a.Labels[labels[i]] != labels[i+1] {
					continue alert
				}
			}
			n++
		}
	}
	return n
}

// notes is a copy of what the sink took.
func (s *hookSink) notes() []hookNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookNote(nil), s.got...)
}

// receiverOnly is a daemon config without rules or scrapes: the receiver
// alone, its one webhook at sink+path.
func receiverOnly(sinkURL, receiverLines, routeLines string) string {
	return `rule_files: []
receiver:
` + receiverLines + `  route:
    receiver: hooks
    group_wait: 200ms
    group_interval: 300ms
    repeat_interval: 1000h
` + routeLines + `  receivers:
    - name: hooks
      webhook_configs: [{url: "` + sinkURL + `"}]
`
}

func (d *daemon) post(alerts ...string) {
	d.t.Helper()
	resp, err := http.Post(d.url+"/api/v2/alerts", "application/json", strings.NewReader("["+strings.Join(alerts, ",")+"]"))
	if err != nil {
		d.t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("POST /api/v2/alerts: %s %s", resp.Status, msg)
	}
}

// kill9 ends the daemon as a crash would: no shutdown, no last write.
func (d *daemon) kill9() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	_ = d.cmd.Wait()
}

func amAlert(labels string, starts time.Time, ends time.Time) string {
	s := `{"labels":{` + labels + `}`
	if !starts.IsZero() {
		s += `,"startsAt":"` + starts.UTC().Format(time.RFC3339Nano) + `"`
	}
	if !ends.IsZero() {
		s += `,"endsAt":"` + ends.UTC().Format(time.RFC3339Nano) + `"`
	}
	return s + "}"
}

type historyPage struct {
	Total int `json:"total"`
	Items []struct {
		AlertID     int64  `json:"alert_id"`
		Status      string `json:"status"`
		Error       string `json:"error"`
		Fingerprint string `json:"fingerprint"`
		Transition  string `json:"transition"`
	} `json:"items"`
}

func (d *daemon) history(query string) historyPage {
	d.t.Helper()
	var h historyPage
	d.getJSON("/admin/alert-history?limit=1000&"+query, &h)
	return h
}

// Finding 1: ten alerts {alertname=T9, id=T9-i, master=m1} in ten groups
// reached the sink as one notification, the other nine "duplicates"
// without a history entry; the same for one master's three providers.
func TestLedgerDistinctAlertsAreNotFolded(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, receiverOnly(sink.url+"/hook", "", "    group_by: [alertname, id, provider]\n"))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	var batch []string
	for i := range 10 {
		batch = append(batch, amAlert(fmt.Sprintf(`"alertname":"T9","id":"T9-%d","master":"m1","severity":"warning"`, i), time.Time{}, time.Time{}))
	}
	for _, p := range []string{"openai", "anthropic", "deepseek"} {
		batch = append(batch, amAlert(`"alertname":"T10","master":"m3","provider":"`+p+`","severity":"warning"`, time.Time{}, time.Time{}))
	}
	d.post(batch...)
	d.eventually("13 alerts notified", func() bool { return sink.count("", "firing") == 13 })
	if n := len(sink.notes()); n != 13 {
		t.Errorf("%d notifications, want one per group (13)", n)
	}
	d.eventually("13 sent in the history", func() bool { return d.history("status=sent").Total == 13 })
	if h := d.history("status=suppressed"); h.Total != 0 {
		t.Errorf("different alerts held back: %+v", h.Items)
	}
	d.stop()
}

// Finding 2: receiver.cooldown: 0s did not turn the cooldown off.
func TestLedgerReceiverCooldownZeroTurnsItOff(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, receiverOnly(sink.url+"/hook", "  cooldown: 0s\n", ""))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	flap := func(start, end time.Time) string {
		return amAlert(`"alertname":"Flap","master":"m9","severity":"warning"`, start, end)
	}
	t1 := time.Now().Add(-time.Minute)
	d.post(flap(t1, time.Time{}))
	d.eventually("fired", func() bool { return sink.count("", "firing") == 1 })
	d.post(flap(t1, time.Now()))
	d.eventually("resolved", func() bool { return sink.count("", "resolved") == 1 })
	d.post(flap(time.Now(), time.Time{}))
	d.eventually("the re-fire notified", func() bool { return sink.count("", "firing") == 2 })
	if h := d.history("status=suppressed"); h.Total != 0 {
		t.Errorf("held back with the cooldown off: %+v", h.Items)
	}
	d.stop()
}

// Finding 3: an alert notified as firing, a graceful restart, then it
// resolves: the resolution reached no channel. Also when it expires while
// the daemon is down, nobody re-posting it.
func TestLedgerResolutionAfterRestart(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, receiverOnly(sink.url+"/hook", "", "    group_by: [alertname]\n"))
	data := filepath.Join(dir, "data")
	d := startDaemon(t, cfg, data)
	start, expires := time.Now().Add(-time.Minute), time.Now().Add(4*time.Second)
	posted := amAlert(`"alertname":"Posted","severity":"warning"`, start, time.Time{})
	expiring := amAlert(`"alertname":"Expiring","severity":"warning"`, start, expires)
	d.post(posted, expiring)
	d.eventually("both fired", func() bool { return sink.count("", "firing") == 2 })
	d.stop()

	time.Sleep(time.Until(expires)) // Expiring ends while no gatewarden runs
	d = startDaemon(t, cfg, data)
	d.post(amAlert(`"alertname":"Posted","severity":"warning"`, start, time.Now()))
	defer func() {
		if t.Failed() {
			t.Logf("the sink took %+v", sink.notes())
		}
	}()
	// The store keeps a firing alert's end rounded up to a 5 s step
	// (re-posts that move it a little cost no write), so an alert that
	// expired while gatewarden was down resolves within 5 s of its end.
	d.eventually("both resolutions delivered", func() bool {
		return sink.count("", "resolved", "alertname", "Posted") == 1 && sink.count("", "resolved", "alertname", "Expiring") == 1
	})
	if n := sink.count("", "firing"); n != 2 {
		t.Errorf("%d firing notifications; the restart must not notify them again", n)
	}
	d.stop()
}

// gauges is a scrape target whose values the test sets.
type gauges struct {
	mu    sync.Mutex
	lines map[string]float64
	url   string
}

func newGauges(t *testing.T) *gauges {
	g := &gauges{lines: map[string]float64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		var b bytes.Buffer
		for series, v := range g.lines {
			fmt.Fprintf(&b, "%s %g\n", series, v)
		}
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	g.url = strings.TrimPrefix(srv.URL, "http://")
	return g
}

func (g *gauges) set(series string, v float64) {
	g.mu.Lock()
	g.lines[series] = v
	g.mu.Unlock()
}

// budgetConfig runs the built-in budget rule over the gauges.
func budgetConfig(target, sinkURL, cooldown string) string {
	return `global: {scrape_interval: 500ms, evaluation_interval: 500ms}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["` + target + `"]}]
receiver:
  cooldown: ` + cooldown + `
  route:
    receiver: hooks
    cooldown: ` + cooldown + `
    group_by: [alertname, master, step]
    group_wait: 200ms
    group_interval: 300ms
    repeat_interval: 1000h
  receivers:
    - name: hooks
      webhook_configs: [{url: "` + sinkURL + `"}]
`
}

const (
	spend  = `gateway_spend_usd_total{master="m1"}`
	budget = `gateway_master_budget_usd{master="m1",period="monthly"}`
)

// Finding 4: step 0.5 of a new budget period (the spend counter reset)
// was held back as a repeat of the last period's.
func TestLedgerNewBudgetPeriodIsNotCooledDown(t *testing.T) {
	t.Parallel()
	g, sink := newGauges(t), newHookSink(t, nil)
	g.set(budget, 100)
	g.set(spend, 10)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, budgetConfig(g.url, sink.url+"/hook", "1h"))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	step := func() int { return sink.count("", "firing", "alertname", "GatewayBudgetStep", "step", "0.5") }
	d.eventually("the first period's 0.5", func() bool { g.set(spend, 60); return step() == 1 })
	g.set(spend, 5) // a new period: the counter reset
	d.eventually("the old period's steps resolved", func() bool {
		return sink.count("", "resolved", "alertname", "GatewayBudgetStep") == 1
	})
	g.set(spend, 55)
	defer func() {
		if t.Failed() {
			t.Logf("the sink took %+v", sink.notes())
		}
	}()
	d.eventually("the new period's 0.5", func() bool { return step() == 2 })
	if h := d.history("status=suppressed"); h.Total != 0 {
		t.Errorf("the new period's step held back: %+v", h.Items)
	}
	periods := map[string]bool{}
	for _, n := range sink.notes() {
		for _, a := range n.Alerts {
			periods[a.Labels["period_start"]] = true
		}
	}
	if len(periods) != 2 {
		t.Errorf("period_start labels %v, want one per period", periods)
	}
	d.stop()
}

// Finding 5: kill -9 between evaluations sent the announced steps again
// (with the cooldown off every repeat reached the channel), and the next
// step as a jump past them.
func TestLedgerStepsOnceAcrossKill9(t *testing.T) {
	t.Parallel()
	g, sink := newGauges(t), newHookSink(t, nil)
	g.set(budget, 100)
	g.set(spend, 60)
	dir := t.TempDir()
	cfg, data := filepath.Join(dir, "gatewarden.yml"), filepath.Join(dir, "data")
	writeConfig(t, cfg, budgetConfig(g.url, sink.url+"/hook", "0s"))
	d := startDaemon(t, cfg, data)
	step := func(s string) int { return sink.count("", "firing", "alertname", "GatewayBudgetStep", "step", s) }
	d.eventually("0.5 announced", func() bool { return step("0.5") == 1 })
	for range 4 {
		d.kill9()
		d = startDaemon(t, cfg, data)
		d.eventually("a few evaluations after the restart", func() bool {
			return d.metricSum("gatewarden_rule_group_evaluations_total") >= 8
		})
	}
	defer func() {
		if t.Failed() {
			t.Logf("the sink took %+v", sink.notes())
		}
	}()
	g.set(spend, 80)
	d.eventually("0.75 announced", func() bool { return step("0.75") == 1 })
	if n := step("0.5"); n != 1 {
		t.Errorf("step 0.5 notified %d times over four kill -9", n)
	}
	for _, n := range sink.notes() {
		for _, a := range n.Alerts {
			if a.Labels["step"] == "0.75" && a.Annotations["steps_crossed"] != "0.75" {
				t.Errorf("0.75 says it crossed %q", a.Annotations["steps_crossed"])
			}
		}
	}
	d.stop()
}

// Finding 6: with the gateway answering 500 the throttle's FAILED alert
// was in the store but never reached a channel.
func TestLedgerThrottleFailureDelivered(t *testing.T) {
	t.Parallel()
	sim, addr := simTarget(t)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the gateway is sick", http.StatusInternalServerError)
	}))
	t.Cleanup(gw.Close)
	sink := newHookSink(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["`+addr+`"]}]
throttle:
  gateway: {url: "`+gw.URL+`", retry_backoff: 50ms}
receiver:
  route: {receiver: hooks, group_by: [alertname, status], group_wait: 200ms, group_interval: 300ms}
  receivers:
    - name: hooks
      webhook_configs: [{url: "`+sink.url+`/hook"}]
`)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for sink.count("", "firing", "alertname", "PluginAutoThrottle", "status", "FAILED") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no FAILED throttle notice delivered; got %+v", sink.notes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop()
}

// Finding 7: a reload that changed a webhook's url and secret_file said
// "configuration loaded", and deliveries went on to the old URL with the
// old key until a restart.
func TestLedgerReloadAppliesChannelChanges(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t, map[string]string{"/a": "secret-a", "/b": "secret-b"})
	dir := t.TempDir()
	for name, v := range map[string]string{"a.secret": "secret-a", "b.secret": "secret-b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "gatewarden.yml")
	config := func(path, secret string) string {
		return `rule_files: []
receiver:
  route: {receiver: hooks, group_by: [alertname], group_wait: 200ms, group_interval: 300ms}
  receivers:
    - name: hooks
      webhook_configs: [{url: "` + sink.url + path + `", secret_file: ` + secret + `}]
`
	}
	writeConfig(t, cfg, config("/a", "a.secret"))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	d.post(amAlert(`"alertname":"Before"`, time.Time{}, time.Time{}))
	d.eventually("the first alert at /a", func() bool { return sink.count("/a", "firing", "alertname", "Before") == 1 })

	writeConfig(t, cfg, config("/b", "b.secret"))
	d.reload()
	d.post(amAlert(`"alertname":"After"`, time.Time{}, time.Time{}))
	d.eventually("the next alert at /b, signed with the new key", func() bool { return sink.count("/b", "firing", "alertname", "After") == 1 })
	if n := sink.count("/a", "", "alertname", "After"); n != 0 {
		t.Errorf("%d deliveries to the old URL after the reload", n)
	}
	d.stop()
}

// Finding 9: history entries carried no alert_id; the filter found
// nothing for an alert delivered three times.
func TestLedgerHistoryLinkedToTheAlert(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, receiverOnly(sink.url+"/hook", "  cooldown: 0s\n", ""))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	lbl := `"alertname":"Linked","master":"m4","severity":"warning"`
	t1 := time.Now().Add(-time.Minute)
	d.post(amAlert(lbl, t1, time.Time{}))
	d.eventually("fired", func() bool { return sink.count("", "firing") == 1 })
	d.post(amAlert(lbl, t1, time.Now()))
	d.eventually("resolved", func() bool { return sink.count("", "resolved") == 1 })
	d.post(amAlert(lbl, time.Now(), time.Time{}))
	d.eventually("fired again", func() bool { return sink.count("", "firing") == 2 })

	var alerts struct {
		Items []struct {
			ID    int64 `json:"id"`
			Title string
		} `json:"items"`
	}
	d.getJSON("/admin/alerts?limit=10", &alerts)
	if len(alerts.Items) != 1 {
		t.Fatalf("alerts: %+v", alerts)
	}
	var h historyPage
	d.eventually("three entries for the alert", func() bool {
		h = d.history(fmt.Sprintf("alert_id=%d", alerts.Items[0].ID))
		return h.Total == 3
	})
	var changes []string
	for _, it := range h.Items {
		if it.AlertID != alerts.Items[0].ID || it.Status != "sent" {
			t.Errorf("entry %+v", it)
		}
		changes = append(changes, it.Transition)
	}
	if got := strings.Join(changes, ","); got != "firing,resolved,firing" {
		t.Errorf("changes newest first %s, want firing,resolved,firing", got)
	}
	d.stop()
}
