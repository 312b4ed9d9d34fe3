package receiver_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/pgtest"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/receiver/route"
	"github.com/gatewarden/gatewarden/store"
)

// Package receiver's internal tests define no TestMain, so this one is the
// test binary's (both test packages of a directory are linked into one).
var pg *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The secrets of a test's config directory, written by newDir.
const (
	hookSecret    = "hook-secret-5d1e"
	botSecret     = "bot-secret-77c2"
	smtpUser      = "alerts@example.com"
	smtpPassword  = "s3cr3t-Pa55word!"
	wrongPassword = "wr0ng-Pa55word!"
)

// newDir is a config directory holding the secret files the YAML names.
func newDir(t testing.TB) string {
	dir := t.TempDir()
	for name, v := range map[string]string{"hook.secret": hookSecret, "bot.secret": botSecret, "smtp.pw": smtpPassword,
		"wrong.pw": wrongPassword} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sqlite(dir string) store.Options { return store.Options{Path: filepath.Join(dir, "gw.db")} }

// hookYAML, botYAML and mailYAML are integration entries for the sinks.
func hookYAML(s *webhookSink) string {
	return `{url: "` + s.URL + `/hook", secret_file: hook.secret}`
}

func botYAML(b *feishuBot) string { return `{url: "` + b.URL() + `", secret_file: bot.secret}` }

// mailYAML counts deliveries by the X-Group-Key and X-Alerts headers.
func mailYAML(smarthost, passwordFile string) string {
	return `{to: ops@example.com, from: gatewarden@example.com, smarthost: "` + smarthost + `",
           auth_username: ` + smtpUser + `, auth_password_file: ` + passwordFile + `, require_tls: false,
           headers: {X-Group-Key: '{{ .GroupKey }}', X-Alerts: '{{ range .Alerts }}{{ .Fingerprint }}:{{ .Status }} {{ end }}'}}`
}

// pipeline is the receiver as cmd/gatewarden wires it: config.Load, the
// route tree, BuildPlan, the dispatcher claiming in the store's ledger and
// writing to its outbox, the delivery worker with main's failing-channel
// callbacks, the recorder and ingest on a real listener.
type pipeline struct {
	t          testing.TB
	st         *store.Store
	reg        *prometheus.Registry
	disp       *receiver.Dispatcher
	rec        *receiver.Recorder
	srv        *httptest.Server
	stop       func()       // ends every actor and waits, as run.Group's interrupts do
	recoveries atomic.Int32 // OnRecovered calls
	health     *receiver.ChannelAlerts
}

type pipelineOpts struct {
	noDelivery bool // the worker is built but not run: the outbox fills
	threshold  int  // delivery FailingThreshold; 0: high enough never to trip
}

func newPipeline(t testing.TB, st *store.Store, dir, yml string, o pipelineOpts) *pipeline {
	t.Helper()
	cfg, err := config.Load([]byte(yml), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	rc := cfg.Receiver
	tree, err := route.New(rc.Route, rc.CooldownOrDefault())
	if err != nil {
		t.Fatal(err)
	}
	if o.threshold == 0 {
		o.threshold = 1000
	}
	p := &pipeline{t: t, st: st, reg: prometheus.NewRegistry(), health: &receiver.ChannelAlerts{}}
	in := &receiver.Integrations{}
	sil := receiver.NewSilences(st, nil)
	p.rec = receiver.NewRecorder(st, 200_000, nil, p.reg)
	// Short waits, so retries happen in real time within a test.
	worker := delivery.New(delivery.Options{
		Store: st, Builder: in, Registerer: p.reg,
		PollInterval: 20 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		RatePerSecond: delivery.NoRateLimit, AttemptTimeout: 10 * time.Second,
		FailingThreshold: o.threshold, OnFailing: p.health.Failing, OnRecovered: p.channelRecovered,
	})
	episodes := receiver.NewEpisodes()
	p.disp = receiver.NewDispatcher(receiver.DispatcherOptions{Ledger: st, Episodes: episodes, Peer: fmt.Sprintf("pipeline-%p", p),
		Wake: worker.Wake, Registerer: p.reg})
	p.health.Inbox = receiver.Inbox{Episodes: episodes, Recorder: p.rec, Route: p.disp.Add}
	ingest := receiver.NewIngest(receiver.IngestOptions{Inbox: p.health.Inbox, Registerer: p.reg})
	plan, err := receiver.BuildPlan(context.Background(), rc, receiver.NewTree(tree), st, in, []receiver.Muter{sil})
	if err != nil {
		t.Fatal(err)
	}
	in.ExternalURL = rc.ExternalURL
	ingest.Configure(receiver.IngestConfigFrom(rc))
	p.disp.ApplyPlan(plan)
	mux := http.NewServeMux()
	guard := access.New()
	guard.Apply(cfg)
	ingest.Register(mux, guard)
	sil.Register(mux, guard)
	status := receiver.NewStatus("pipeline", time.Now())
	if err := status.Configure(rc); err != nil {
		t.Fatal(err)
	}
	receiver.NewAlertsAPI(p.disp, sil, status).Register(mux, guard)
	p.srv = httptest.NewServer(mux)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	p.stop = sync.OnceFunc(func() { p.srv.Close(); cancel(); wg.Wait() })
	t.Cleanup(p.stop)
	run("recorder", p.rec.Run)
	run("dispatcher", p.disp.Run)
	run("silences", func(ctx context.Context) error { return sil.Run(ctx, 10*time.Second) })
	if !o.noDelivery {
		run("delivery", worker.Run)
	}
	return p
}

func (p *pipeline) channelRecovered(ch store.Channel) {
	p.recoveries.Add(1)
	p.health.Recovered(ch)
}

// amAlert is one alert of Alertmanager's API v2, as a sender posts it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
}

// alerts are n firing alerts of one name, one per master, with a fixed
// start, as Prometheus and Alertmanager send them on every re-post.
func alerts(name string, n int, start time.Time) []amAlert {
	out := make([]amAlert, n)
	for i := range out {
		m := "m" + strconv.Itoa(i)
		out[i] = amAlert{Labels: map[string]string{"alertname": name, "master": m, "severity": "warning", "type": "error_rate"},
			Annotations: map[string]string{"summary": "Master " + m + " answers 7% of requests with 5xx."}, StartsAt: start}
	}
	return out
}

func (p *pipeline) post(as []amAlert) {
	p.t.Helper()
	if err := p.postErr(as); err != nil {
		p.t.Fatal(err)
	}
}

// postErr is post for goroutines other than the test's.
func (p *pipeline) postErr(as []amAlert) error {
	body, _ := json.Marshal(as)
	resp, err := http.Post(p.srv.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/v2/alerts: %s %s", resp.Status, msg)
	}
	return nil
}

func channel(t testing.TB, st *store.Store, name string) store.Channel {
	t.Helper()
	cs, err := st.ListChannels(context.Background())
	if i := slices.IndexFunc(cs, func(c store.Channel) bool { return c.Name == name }); err == nil && i >= 0 {
		return cs[i]
	}
	t.Fatalf("no channel %s (%v)", name, err)
	return store.Channel{}
}

// history is a channel's delivery history, oldest first.
func history(t testing.TB, st *store.Store, channelID int64) []store.HistoryEntry {
	t.Helper()
	hs, _, err := st.ListHistory(context.Background(), store.HistoryFilter{ChannelID: channelID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hs, func(a, b store.HistoryEntry) int { return int(a.ID - b.ID) })
	return hs
}

func outbox(t testing.TB, st *store.Store, f store.OutboxFilter) []store.OutboxItem {
	t.Helper()
	f.Limit = 1000
	items, _, err := st.ListOutbox(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// metric sums a counter family's samples, those whose label has value
// when label is set.
func metric(t testing.TB, reg *prometheus.Registry, name string, pairs ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	has := func(m *dto.Metric) bool {
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i] != "" && !slices.ContainsFunc(m.GetLabel(),
				func(l *dto.LabelPair) bool { return l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] }) {
				return false
			}
		}
		return true
	}
	sum := 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && has(m) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// deliveries is what a sink saw: requests, every body, and the
// notifications it took, counted by identity.
type deliveries struct {
	mu       sync.Mutex
	requests int
	got      map[string]int
	bodies   []string
}

// next numbers a request, from 0.
func (d *deliveries) next() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	return d.requests - 1
}

func (d *deliveries) note(body []byte, key string, taken bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bodies = append(d.bodies, string(body))
	if d.got == nil {
		d.got = map[string]int{}
	}
	if taken {
		d.got[key]++
	}
}

func (d *deliveries) snapshot() (requests int, got map[string]int, bodies []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests, maps.Clone(d.got), slices.Clone(d.bodies)
}

// once asserts that want distinct notifications were taken, each once.
func once(t testing.TB, what string, d *deliveries, want int) {
	t.Helper()
	_, got, _ := d.snapshot()
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s: %q delivered %d times, want once", what, k, n)
		}
	}
	if len(got) != want {
		t.Errorf("%s: %d distinct notifications delivered, want %d: %q", what, len(got), want, slices.Sorted(maps.Keys(got)))
	}
}

// webhookSink checks gatewarden's signature (hex HMAC-SHA256 of timestamp
// "." body, docs/webhook.md) and answers respond(n) to the n-th request;
// it counts 2xx answers by group key and alerts.
type webhookSink struct {
	deliveries
	*httptest.Server
	respond func(n int) int
}

func newWebhookSink(t testing.TB, respond func(n int) int) *webhookSink {
	s := &webhookSink{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write([]byte(r.Header.Get("X-Gatewarden-Timestamp") + "."))
		mac.Write(body)
		var m struct {
			GroupKey string
			Alerts   []struct{ Fingerprint, Status string }
		}
		if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Gatewarden-Signature"))) || json.Unmarshal(body, &m) != nil {
			t.Errorf("webhook: bad signature or body: %.200s", body)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		key := m.GroupKey
		for _, a := range m.Alerts {
			key += " " + a.Fingerprint + ":" + a.Status
		}
		code, n := http.StatusNoContent, s.next()
		if s.respond != nil {
			code = s.respond(n)
		}
		s.note(body, key, code/100 == 2)
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

// feishuBot is a Feishu custom bot: its token in the path, the signature
// checked as Feishu does (HMAC keyed with timestamp "\n" secret over
// nothing, base64, within an hour), Feishu's bodies in reply. reply(n)
// answers the n-th correctly signed request; deliveries count by title.
type feishuBot struct {
	deliveries
	srv    *httptest.Server
	token  string
	reply  func(n int) string
	signed atomic.Int32
}

const (
	feishuOK      = `{"code":0,"data":{},"msg":"success"}`
	feishuTooMany = `{"code":9499,"data":{},"msg":"too many request"}`
	feishuBadSign = `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`
)

func newFeishuBot(t testing.TB, reply func(n int) string) *feishuBot {
	b := &feishuBot{token: "c0ffee42-" + strings.ToLower(rand.Text()), reply: reply}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		b.next()
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/open-apis/bot/v2/hook/"+b.token {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}`)
			return
		}
		var p struct {
			Timestamp, Sign string
			Card            struct {
				Header struct{ Title struct{ Content string } }
			}
		}
		_ = json.Unmarshal(body, &p)
		ts, err := strconv.ParseInt(p.Timestamp, 10, 64)
		mac := hmac.New(sha256.New, []byte(p.Timestamp+"\n"+botSecret))
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Hour ||
			!hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(p.Sign)) {
			b.note(body, "", false)
			io.WriteString(w, feishuBadSign)
			return
		}
		answer := feishuOK
		if n := int(b.signed.Add(1)) - 1; b.reply != nil {
			answer = b.reply(n)
		}
		b.note(body, p.Card.Header.Title.Content, answer == feishuOK)
		io.WriteString(w, answer)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *feishuBot) URL() string { return b.srv.URL + "/open-apis/bot/v2/hook/" + b.token }

// smtpServer is a real go-smtp relay with AUTH PLAIN that refuses a wrong
// password with 535 quoting it back, as careless servers do: the history
// must show gatewarden redacting it. No TLS (require_tls: false; gatewarden
// sends credentials in clear to loopback only): the email package's own
// tests cover STARTTLS and implicit TLS.
type smtpServer struct {
	deliveries
	addr   string
	logins atomic.Int32
}

// startSMTP serves on addr ("127.0.0.1:0": any port) until the test ends.
func startSMTP(t testing.TB, addr string) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	srv := smtp.NewServer(s)
	srv.Domain, srv.ErrorLog = "mx.test", log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return s
}

func (s *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }

type smtpSession struct {
	s      *smtpServer
	authed bool
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	ss.s.logins.Add(1)
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "rejected " + user + " with password " + pass}
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (ss *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return err
	}
	ss.s.next()
	ss.s.note(data, m.Header.Get("X-Group-Key")+" "+strings.TrimSpace(m.Header.Get("X-Alerts")), true)
	return nil
}

func (ss *smtpSession) Reset()        {}
func (ss *smtpSession) Logout() error { return nil }
