package receiver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/pgtest"
	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/store"
)

// Fault tests of the whole receiver: ingest over HTTP → recorder and
// dispatcher → outbox → delivery worker → real webhook, Feishu and SMTP
// servers on 127.0.0.1, judged by what they received and by the store's
// delivery history, as an operator reads it at /admin/alert-history.

// receiverYAML is a receiver section: every alert to receiver ops, a group
// per (alertname, master), short waits. route adds lines to the root route
// (a cooldown); integrations are the ops receiver's lines.
func receiverYAML(route, integrations string) string {
	return `receiver:
  route:
    receiver: ops
    group_by: [alertname, master]
    group_wait: 50ms
    group_interval: 100ms
    repeat_interval: 1h
` + route + `  receivers:
    - name: ops
` + integrations + "\n"
}

const noCooldown = "    cooldown: 0s\n"

// steps renders history entries as "status attempt, ...".
func steps(hs []store.HistoryEntry) string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = fmt.Sprintf("%s %d", h.Status, h.Attempt)
	}
	return strings.Join(out, ", ")
}

func lastIs(t testing.TB, st *store.Store, chID int64, status string) func() bool {
	return func() bool { hs := history(t, st, chID); return len(hs) > 0 && hs[len(hs)-1].Status == status }
}

// oneItem returns a channel's only outbox item.
func oneItem(t testing.TB, st *store.Store, chID int64) store.OutboxItem {
	t.Helper()
	items := outbox(t, st, store.OutboxFilter{ChannelID: chID})
	if len(items) != 1 {
		t.Fatalf("channel %d: %d outbox items, want 1", chID, len(items))
	}
	return items[0]
}

func itemIs(t testing.TB, it store.OutboxItem, state string, attempts int) {
	t.Helper()
	if it.State != state || attempts > 0 && it.Attempts != attempts {
		t.Errorf("outbox item %d: %s after %d attempts, want %s after %d", it.ID, it.State, it.Attempts, state, attempts)
	}
}

func TestPipelineWebhookFailsThenRecovers(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	sink := newWebhookSink(t, func(n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	st := storetest.Open(t, sqlite(dir))
	p := newPipeline(t, st, dir, receiverYAML("", "      webhook_configs: ["+hookYAML(sink)+"]"), pipelineOpts{})
	p.post(alerts("GatewayErrorRate", 1, time.Now()))

	ch := channel(t, st, "ops/webhook/0")
	eventually(t, "the webhook's sent attempt in the history", lastIs(t, st, ch.ID, store.HistorySent))
	once(t, "webhook", &sink.deliveries, 1)
	if n, _, _ := sink.snapshot(); n != 4 {
		t.Errorf("webhook got %d requests, want 3 refused and 1 taken", n)
	}
	// The history has the outcome, one entry for the state change; the
	// attempts before it are the item's and the metrics'.
	if s := steps(history(t, st, ch.ID)); s != "sent 4" {
		t.Fatalf("history: %s; want sent 4 alone", s)
	}
	if n := metric(t, p.reg, "gatewarden_notifications_total", "status", "retried"); n != 3 {
		t.Errorf("%v retried attempts counted, want 3", n)
	}
	itemIs(t, oneItem(t, st, ch.ID), store.OutboxSent, 4)
}

func TestPipelineFeishuRateLimitedThenSent(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	const wrongSecret = "n0t-the-b0t-secret"
	busy := newFeishuBot(t, func(n int) string {
		if n < 2 {
			return feishuTooMany
		}
		return feishuOK
	})
	strict := newFeishuBot(t, nil)
	st := storetest.Open(t, sqlite(dir))
	p := newPipeline(t, st, dir, receiverYAML("", `      feishu_configs:
        - `+botYAML(busy)+`
        - {url: "`+strict.URL()+`", secret: "`+wrongSecret+`"}`), pipelineOpts{})
	p.post(alerts("GatewayErrorRate", 1, time.Now()))

	busyCh, strictCh := channel(t, st, "ops/feishu/0"), channel(t, st, "ops/feishu/1")
	eventually(t, "the busy bot's sent attempt", lastIs(t, st, busyCh.ID, store.HistorySent))
	eventually(t, "the strict bot's failed attempt", lastIs(t, st, strictCh.ID, store.HistoryFailed))

	once(t, "busy bot", &busy.deliveries, 1)
	if n, _, _ := busy.snapshot(); n != 3 {
		t.Errorf("busy bot got %d requests, want 2 refused and 1 taken", n)
	}
	if s := steps(history(t, st, busyCh.ID)); s != "sent 3" {
		t.Fatalf("busy bot history: %s; want sent 3 alone", s)
	}
	if n := metric(t, p.reg, "gatewarden_notifications_total", "channel", "ops/feishu/0", "status", "retried"); n != 2 {
		t.Errorf("busy bot: %v retried attempts, want 2", n)
	}

	// A signature Feishu refuses is refused again: no retry, and the error
	// names Feishu's code but neither the bot's token nor a secret.
	hs := history(t, st, strictCh.ID)
	if s := steps(hs); s != "failed 1" {
		t.Fatalf("strict bot history: %s; want failed 1 only", s)
	}
	if e := hs[0].Error; !strings.Contains(e, "19021") {
		t.Errorf("strict bot error %q does not name Feishu's code 19021", e)
	}
	for _, secret := range []string{strict.token, strict.URL(), "/open-apis/bot/v2/hook/", wrongSecret, botSecret} {
		if strings.Contains(hs[0].Error, secret) {
			t.Errorf("strict bot error %q quotes %q", hs[0].Error, secret)
		}
	}
	itemIs(t, oneItem(t, st, strictCh.ID), store.OutboxFailed, 1)
	if n, got, _ := strict.snapshot(); n != 1 || len(got) != 0 {
		t.Errorf("strict bot: %d requests, %d delivered; want 1 refused", n, len(got))
	}
}

// Not parallel: the relay that is down comes back on its port, which no
// other test's listener must take meanwhile.
func TestPipelineEmailRelayDownThenUp(t *testing.T) {
	dir := newDir(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	downAddr := fmt.Sprintf("127.0.0.1:%d", port)
	picky := startSMTP(t, "127.0.0.1:0")
	st := storetest.Open(t, sqlite(dir))
	p := newPipeline(t, st, dir, receiverYAML("", `      email_configs:
        - `+mailYAML(downAddr, "smtp.pw")+`
        - `+mailYAML(picky.addr, "wrong.pw")), pipelineOpts{})
	p.post(alerts("GatewayErrorRate", 1, time.Now()))

	downCh, pickyCh := channel(t, st, "ops/email/0"), channel(t, st, "ops/email/1")
	// While the relay is down the item waits, its error on it, and the
	// history has nothing yet: the outcome is not known.
	eventually(t, "two refused connections on the outbox item", func() bool {
		items := outbox(t, st, store.OutboxFilter{ChannelID: downCh.ID})
		return len(items) == 1 && items[0].Attempts >= 2 && strings.Contains(items[0].LastError, "connection refused")
	})
	if hs := history(t, st, downCh.ID); len(hs) != 0 {
		t.Fatalf("history while retrying: %s", steps(hs))
	}
	relay := startSMTP(t, downAddr)
	eventually(t, "the mail sent once the relay is back", lastIs(t, st, downCh.ID, store.HistorySent))

	once(t, "relay", &relay.deliveries, 1)
	hs := history(t, st, downCh.ID)
	it := oneItem(t, st, downCh.ID)
	if len(hs) != 1 || hs[0].Attempt != it.Attempts {
		t.Errorf("history: %s; want sent %d alone", steps(hs), it.Attempts)
	}
	itemIs(t, it, store.OutboxSent, 0)

	// A password the server refuses (535) is refused again: no retry, and
	// the password is in no form in the history, though the server quoted it.
	eventually(t, "the refused login in the history", lastIs(t, st, pickyCh.ID, store.HistoryFailed))
	hs = history(t, st, pickyCh.ID)
	if s := steps(hs); s != "failed 1" {
		t.Fatalf("picky relay history: %s; want failed 1 only", s)
	}
	if e := hs[0].Error; !strings.Contains(e, "535") {
		t.Errorf("error %q does not name the 535 refusal", e)
	}
	for _, form := range []string{wrongPassword, base64.StdEncoding.EncodeToString([]byte(wrongPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + smtpUser + "\x00" + wrongPassword))} {
		if strings.Contains(hs[0].Error, form) {
			t.Errorf("error %q holds the password (%q)", hs[0].Error, form)
		}
	}
	itemIs(t, oneItem(t, st, pickyCh.ID), store.OutboxFailed, 1)
	if n, _, _ := picky.snapshot(); n != 0 || picky.logins.Load() != 1 {
		t.Errorf("picky relay: %d messages, %d logins; want none and 1", n, picky.logins.Load())
	}
}

// outboxDone: want items sent, none pending, claimed or given up.
func outboxDone(t testing.TB, st *store.Store, want int) func() bool {
	return func() bool {
		pending, sending, failed, _, err := st.OutboxStats(context.Background())
		if err != nil || failed > 0 {
			t.Fatalf("outbox: %d failed (%v)", failed, err)
		}
		return pending == 0 && sending == 0 && len(outbox(t, st, store.OutboxFilter{State: store.OutboxSent})) == want
	}
}

func TestPipelineRestartWithAFullOutbox(t *testing.T) {
	t.Parallel()
	// With or without a cooldown, the ledger's claims hold back what was
	// decided before the restart: 100 alerts on 2 channels.
	for _, tc := range []struct{ name, route string }{{"no cooldown", noCooldown}, {"cooldown", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := newDir(t)
			sink, relay := newWebhookSink(t, nil), startSMTP(t, "127.0.0.1:0")
			yml := receiverYAML(tc.route, "      webhook_configs: ["+hookYAML(sink)+"]\n      email_configs:\n        - "+mailYAML(relay.addr, "smtp.pw"))
			batch := alerts("GatewayErrorRate", 100, time.Now().Add(-time.Minute).UTC())

			// Before: no worker runs, so the 200 notifications wait.
			st := storetest.Open(t, sqlite(dir))
			p := newPipeline(t, st, dir, yml, pipelineOpts{noDelivery: true})
			p.post(batch[:50])
			p.post(batch[50:])
			eventually(t, "200 notifications in the outbox", func() bool {
				pending, _, _, _, err := st.OutboxStats(context.Background())
				return err == nil && pending == 200
			})
			p.stop()
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := sink.snapshot(); n != 0 {
				t.Fatalf("the webhook got %d requests with no worker running", n)
			}

			// After: the same file, a fresh process.
			start := time.Now()
			st = storetest.Open(t, sqlite(dir))
			p = newPipeline(t, st, dir, yml, pipelineOpts{})
			eventually(t, "the outbox delivered", outboxDone(t, st, 200))
			t.Logf("200 notifications delivered %s after the restart", time.Since(start).Round(time.Millisecond))
			once(t, "webhook", &sink.deliveries, 100)
			once(t, "email", &relay.deliveries, 100)

			// The restart rebuilt the groups from the store and found every
			// firing claimed; the sender re-posts what it holds, as
			// Alertmanager does, which continues the same episodes.
			eventually(t, "the rebuilt alerts dealt with", func() bool {
				return metric(t, p.reg, "gatewarden_notification_claims_total", "result", "taken") == 200
			})
			p.post(batch)
			if n := metric(t, p.reg, "gatewarden_notifications_enqueued_total", "", ""); n != 0 {
				t.Errorf("the re-post enqueued %v notifications, want none", n)
			}
			if items := outbox(t, st, store.OutboxFilter{}); len(items) != 200 {
				t.Errorf("%d outbox items after the re-post, want 200", len(items))
			}
			for name, d := range map[string]*deliveries{"webhook": &sink.deliveries, "relay": &relay.deliveries} {
				if n, _, _ := d.snapshot(); n != 100 {
					t.Errorf("%s got %d requests, want 100", name, n)
				}
			}
		})
	}
}

func TestPipelineTwoReceiversShareOnePostgreSQL(t *testing.T) {
	pg.Require(t)
	t.Parallel()
	for _, tc := range []struct{ name, route string }{{"no cooldown", noCooldown}, {"cooldown", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := newDir(t)
			sink, bot, relay := newWebhookSink(t, nil), newFeishuBot(t, nil), startSMTP(t, "127.0.0.1:0")
			yml := receiverYAML(tc.route, "      webhook_configs: ["+hookYAML(sink)+"]\n      feishu_configs: ["+botYAML(bot)+
				"]\n      email_configs:\n        - "+mailYAML(relay.addr, "smtp.pw"))
			url := pg.NewDB(t)
			stA, stB := storetest.Open(t, store.Options{DatabaseURL: url}), storetest.Open(t, store.Options{DatabaseURL: url})
			a, b := newPipeline(t, stA, dir, yml, pipelineOpts{}), newPipeline(t, stB, dir, yml, pipelineOpts{})

			// An Alertmanager HA pair (or a sidecar) posts the same alerts
			// to both receivers at once.
			batch := alerts("GatewayLatency", 10, time.Now().Add(-time.Minute).UTC())
			var wg sync.WaitGroup
			for _, p := range []*pipeline{a, b} {
				wg.Go(func() {
					if err := p.postErr(batch); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			sum := func(name, label, value string) float64 {
				return metric(t, a.reg, name, label, value) + metric(t, b.reg, name, label, value)
			}
			// Each state change is claimed once per channel between the two:
			// 10 alerts on 3 channels, tried by both.
			eventually(t, "both dispatchers flushed", func() bool {
				return sum("gatewarden_notification_claims_total", "result", "made") == 30 &&
					sum("gatewarden_notification_claims_total", "result", "taken") == 30
			})
			if n := sum("gatewarden_notifications_enqueued_total", "", ""); n != 30 {
				t.Errorf("%v notifications enqueued between the two receivers, want 30", n)
			}
			eventually(t, "the outbox delivered", outboxDone(t, stA, 30))
			for name, d := range map[string]*deliveries{"webhook": &sink.deliveries, "feishu": &bot.deliveries, "email": &relay.deliveries} {
				once(t, name, d, 10)
				if n, _, _ := d.snapshot(); n != 10 {
					t.Errorf("%s got %d requests, want 10", name, n)
				}
			}
			for _, name := range []string{"ops/webhook/0", "ops/feishu/0", "ops/email/0"} {
				f := store.HistoryFilter{ChannelID: channel(t, stB, name).ID, Status: store.HistorySent}
				if _, sent, err := stB.ListHistory(context.Background(), f); err != nil || sent != 10 {
					t.Errorf("%s: %d sent in the history (%v), want 10", name, sent, err)
				}
			}
			if _, n, _ := stA.ListHistory(context.Background(), store.HistoryFilter{Status: store.HistorySuppressed}); n > 0 {
				t.Errorf("history: %d suppressed entries; one receiver's claim is no suppression of the other's", n)
			}
		})
	}
}

// channelFailingTaken counts a sink's GatewardenChannelFailing deliveries
// with the status (in its key: a webhook's alerts, a card's title).
func channelFailingTaken(d *deliveries, status string) int {
	_, got, _ := d.snapshot()
	n := 0
	for k, c := range got {
		if strings.Contains(k, receiver.ChannelFailingAlert) && strings.Contains(strings.ToLower(k), status) {
			n += c
		}
	}
	return n
}

func TestPipelineFailingChannelAlertsTheOthers(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	var down atomic.Bool
	down.Store(true)
	broken := newWebhookSink(t, func(int) int {
		if down.Load() {
			return http.StatusBadGateway
		}
		return http.StatusNoContent
	})
	sink, bot, relay := newWebhookSink(t, nil), newFeishuBot(t, nil), startSMTP(t, "127.0.0.1:0")
	st := storetest.Open(t, sqlite(dir))
	newPipeline(t, st, dir, receiverYAML("", "      webhook_configs: ["+hookYAML(broken)+", "+hookYAML(sink)+
		"]\n      feishu_configs: ["+botYAML(bot)+"]\n      email_configs:\n        - "+mailYAML(relay.addr, "smtp.pw")),
		pipelineOpts{threshold: 2}).post(alerts("GatewayErrorRate", 1, time.Now()))

	others := map[string]*deliveries{"webhook": &sink.deliveries, "feishu": &bot.deliveries, "email": &relay.deliveries}
	for name, d := range others {
		eventually(t, "the failing-channel alert on "+name, func() bool { return channelFailingTaken(d, "firing") == 1 })
	}
	down.Store(false)
	for name, d := range others {
		eventually(t, "its resolution on "+name, func() bool { return channelFailingTaken(d, "resolved") == 1 })
	}
	ch := channel(t, st, "ops/webhook/0")
	eventually(t, "the original alert delivered to the recovered channel", func() bool {
		return slices.ContainsFunc(history(t, st, ch.ID), func(h store.HistoryEntry) bool { return h.Status == store.HistorySent })
	})
	// The failing-channel alert's firing and resolution are in its history
	// as suppressed: about itself.
	eventually(t, "the channel's own alert recorded for it", func() bool {
		n := 0
		for _, h := range history(t, st, ch.ID) {
			if h.Status == store.HistorySuppressed && strings.Contains(h.Error, "about this channel's own failure") {
				n++
			}
		}
		return n == 2
	})

	once(t, "recovered webhook", &broken.deliveries, 1)
	_, _, bodies := broken.snapshot()
	for _, b := range bodies {
		if strings.Contains(b, receiver.ChannelFailingAlert) {
			t.Errorf("the failing channel was sent its own failing alert: %.200s", b)
		}
	}
	// Nothing about itself was even queued for it.
	if it := oneItem(t, st, ch.ID); strings.Contains(string(it.Payload), receiver.ChannelFailingAlert) {
		t.Errorf("outbox item %d for the failing channel is its failing alert", it.ID)
	}
	for name, d := range others {
		once(t, name, d, 3) // the alert, the failing channel, its recovery
	}

	t.Run("the recovery keeps the alert's start", func(t *testing.T) {
		starts := map[string]time.Time{}
		_, _, bodies := sink.snapshot()
		for _, b := range bodies {
			var m struct {
				Alerts []struct {
					Status   string
					Labels   map[string]string
					StartsAt time.Time
				}
			}
			_ = json.Unmarshal([]byte(b), &m)
			for _, a := range m.Alerts {
				if a.Labels["alertname"] == receiver.ChannelFailingAlert {
					starts[a.Status] = a.StartsAt
				}
			}
		}
		if !starts["firing"].Equal(starts["resolved"]) {
			t.Errorf("the failing channel's alert started at %s, its resolution says %s", starts["firing"], starts["resolved"])
		}
	})
}

func TestPipelineTwoFailingChannelsAreNotToldOfThemselves(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	refuse := func(int) int { return http.StatusServiceUnavailable }
	broken := []*webhookSink{newWebhookSink(t, refuse), newWebhookSink(t, refuse)}
	sink := newWebhookSink(t, nil)
	st := storetest.Open(t, sqlite(dir))
	newPipeline(t, st, dir, receiverYAML("", "      webhook_configs: ["+hookYAML(broken[0])+", "+hookYAML(broken[1])+", "+hookYAML(sink)+"]"),
		pipelineOpts{threshold: 1}).post(alerts("GatewayErrorRate", 1, time.Now()))

	// Both failing-channel alerts fall in one group (same alertname, no
	// master), so some notification carries both.
	eventually(t, "a notification of both failing channels", func() bool {
		_, got, _ := sink.snapshot()
		for k := range got {
			if strings.Contains(k, receiver.ChannelFailingAlert) && strings.Count(k, ":firing") == 2 {
				return true
			}
		}
		return false
	})
	for i := range broken {
		ch := channel(t, st, "ops/webhook/"+strconv.Itoa(i))
		for _, it := range outbox(t, st, store.OutboxFilter{ChannelID: ch.ID}) {
			if strings.Contains(string(it.Payload), `"channel":"`+ch.Name+`"`) {
				t.Errorf("%s, failing, was queued a notification of its own failure: outbox item %d", ch.Name, it.ID)
			}
		}
	}
}

func TestPipelineHAPairReportsAChannelRecoveryOnce(t *testing.T) {
	pg.Require(t)
	t.Parallel()
	dir := newDir(t)
	var down atomic.Bool
	down.Store(true)
	broken := newWebhookSink(t, func(int) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	sink := newWebhookSink(t, nil)
	yml := receiverYAML("", "      webhook_configs: ["+hookYAML(broken)+", "+hookYAML(sink)+"]")
	url := pg.NewDB(t)
	a := newPipeline(t, storetest.Open(t, store.Options{DatabaseURL: url}), dir, yml, pipelineOpts{threshold: 1})
	b := newPipeline(t, storetest.Open(t, store.Options{DatabaseURL: url}), dir, yml, pipelineOpts{threshold: 1})

	// Fresh alerts to both (a master each: no cooldown) keep both workers
	// sending to the broken channel, until each has seen what is awaited.
	n := 0
	until := func(what string, cond func() bool) {
		t.Helper()
		eventually(t, what, func() bool {
			batch := alerts("GatewayErrorRate", 1, time.Now())
			batch[0].Labels["master"] = "ha" + strconv.Itoa(n)
			n++
			a.post(batch)
			b.post(batch)
			time.Sleep(50 * time.Millisecond)
			return cond()
		})
	}
	// Each raises its failing-channel alert: the same alert (its start is
	// taken to the minute), claimed once between them.
	failing := func(p *pipeline) bool {
		return metric(t, p.reg, "gatewarden_delivery_channel_failing", "channel", "ops/webhook/0") == 1
	}
	claims := func(transition string) int {
		ns, _, err := a.st.ListNotifications(context.Background(), store.LedgerFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range ns {
			if c.Transition == transition && c.ChannelID == channel(t, a.st, "ops/webhook/1").ID && c.Status != store.HistorySuppressed &&
				strings.Contains(c.GroupKey, receiver.ChannelFailingAlert) {
				n++
			}
		}
		return n
	}
	defer func() {
		if t.Failed() {
			ns, _, _ := a.st.ListNotifications(context.Background(), store.LedgerFilter{Limit: 1000})
			for _, c := range ns {
				t.Logf("claim %+v", c)
			}
		}
	}()
	until("both receivers see the channel fail and say so", func() bool { return failing(a) && failing(b) })
	// The failure is notified before the channel recovers: a recovery
	// within the group wait would rightly notify neither.
	eventually(t, "the failure notified", func() bool { return claims(store.TransitionFiring) > 0 })
	down.Store(false)
	until("both see it recover", func() bool { return a.recoveries.Load() > 0 && b.recoveries.Load() > 0 })

	eventually(t, "the resolution claimed", func() bool { return claims(store.TransitionResolved) > 0 })
	time.Sleep(200 * time.Millisecond) // a second claim, were there one, is made by now
	if f, r := claims(store.TransitionFiring), claims(store.TransitionResolved); f != 1 || r != 1 {
		t.Errorf("the channel's failure and recovery were claimed %d and %d times between the two receivers, want once each", f, r)
	}
}
