package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/config"
)

// post is one request an Alertmanager endpoint received.
type post struct {
	path, user, pass, contentType, userAgent string
	alerts                                   models.PostableAlerts
}

// am is an Alertmanager API v2 endpoint: it decodes and validates each body
// with Alertmanager's own models, records it, then answers with reply's
// status (200 when reply is nil).
type am struct {
	*httptest.Server
	posts chan post
}

func newAM(t *testing.T, reply func(*http.Request) int) *am {
	a := &am{posts: make(chan post, 100)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts models.PostableAlerts
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			t.Errorf("Alertmanager cannot decode the body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := alerts.Validate(strfmt.Default); err != nil {
			t.Errorf("Alertmanager rejects the body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		u, p, _ := r.BasicAuth()
		a.posts <- post{r.URL.Path, u, p, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), alerts}
		status := http.StatusOK
		if reply != nil {
			status = reply(r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *am) target() string { return strings.TrimPrefix(a.URL, "http://") }

// next waits for the next request, failing rather than hanging the test.
func (a *am) next(t *testing.T) post {
	t.Helper()
	select {
	case p := <-a.posts:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("Alertmanager received nothing")
		return post{}
	}
}

// set is one alertmanagers entry in YAML, extra being further keys of it.
func set(extra string, targets ...*am) string {
	ts := make([]string, len(targets))
	for i, a := range targets {
		ts[i] = fmt.Sprintf("%q", a.target())
	}
	return fmt.Sprintf("    - static_configs: [{targets: [%s]}]\n%s", strings.Join(ts, ", "), extra)
}

func load(t *testing.T, global string, sets ...string) *config.Config {
	t.Helper()
	yml := global + "alerting:\n  alertmanagers:\n" + strings.Join(sets, "")
	cfg, err := config.Load([]byte(yml), filepath.Join(t.TempDir(), "gatewarden.yml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, yml)
	}
	return cfg
}

// newManager starts from DefaultOptions, as the daemon does.
func newManager(t *testing.T, cfg *config.Config, mods ...func(*Options)) *Manager {
	t.Helper()
	o := DefaultOptions()
	o.Registerer = prometheus.NewRegistry()
	for _, mod := range mods {
		mod(&o)
	}
	m := New(o)
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

// run starts m and returns the function that stops it and waits for Run to
// return, after which every send has been counted.
func run(t *testing.T, m *Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func alerts(n int) []*Alert {
	as := make([]*Alert, n)
	for i := range as {
		as[i] = &Alert{Labels: labels.FromStrings("alertname", "A", "i", fmt.Sprint(i))}
	}
	return as
}

func names(p post) []string {
	var out []string
	for _, a := range p.alerts {
		out = append(out, a.Labels["i"])
	}
	return out
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

func TestPayloadIsWhatAlertmanagerAccepts(t *testing.T) {
	a := newAM(t, nil)
	var mu sync.Mutex
	clock := t0
	now := func() time.Time { // each reading a quarter second later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(250 * time.Millisecond)
		return clock
	}
	m := newManager(t, load(t, "", set("      path_prefix: /am/\n", a)), func(o *Options) { o.Now = now })
	firing := &Alert{
		Labels:       labels.FromStrings("alertname", "HighErrorRate", "master", "m1"),
		Annotations:  labels.FromStrings("summary", "5xx above 5%"),
		StartsAt:     t0,
		EndsAt:       t0.Add(4 * time.Minute),
		GeneratorURL: "http://gatewarden:9095/graph?g0.expr=up",
	}
	resolved := &Alert{Labels: labels.FromStrings("alertname", "Down"), StartsAt: t0.Add(-time.Hour), EndsAt: t0}
	m.Send(firing, resolved)
	stop := run(t, m)
	p := a.next(t)
	stop() // the send is counted once Run is done
	if p.path != "/am/api/v2/alerts" || p.contentType != "application/json" || !strings.HasPrefix(p.userAgent, "gatewarden/") {
		t.Errorf("request: path %q, content type %q, user agent %q", p.path, p.contentType, p.userAgent)
	}
	if len(p.alerts) != 2 {
		t.Fatalf("got %d alerts, want 2", len(p.alerts))
	}
	f, r := p.alerts[0], p.alerts[1]
	if f.Labels["master"] != "m1" || f.Annotations["summary"] != "5xx above 5%" || f.GeneratorURL.String() != firing.GeneratorURL {
		t.Errorf("firing alert: %+v", f)
	}
	if !time.Time(f.StartsAt).Equal(t0) || !time.Time(f.EndsAt).Equal(firing.EndsAt) || !time.Time(r.EndsAt).Equal(t0) {
		t.Errorf("times: starts %v ends %v, resolved ends %v", f.StartsAt, f.EndsAt, r.EndsAt)
	}
	// The fake clock moves 250ms between the two readings around the send.
	h := &dto.Metric{}
	if err := m.metrics.latency.WithLabelValues(a.URL + "/am/api/v2/alerts").(prometheus.Histogram).Write(h); err != nil {
		t.Fatal(err)
	}
	if h.Histogram.GetSampleCount() != 1 || h.Histogram.GetSampleSum() != 0.25 {
		t.Errorf("latency: %d samples, sum %v, want 1 of 0.25s", h.Histogram.GetSampleCount(), h.Histogram.GetSampleSum())
	}
	if got := testutil.ToFloat64(m.metrics.sent.WithLabelValues(a.URL + "/am/api/v2/alerts")); got != 2 {
		t.Errorf("sent = %v, want 2", got)
	}
}

func TestResolved(t *testing.T) {
	for _, tc := range []struct {
		ends time.Time
		want bool
	}{{time.Time{}, false}, {t0.Add(time.Second), false}, {t0, true}, {t0.Add(-time.Second), true}} {
		if got := (&Alert{EndsAt: tc.ends}).Resolved(t0); got != tc.want {
			t.Errorf("EndsAt %v: Resolved = %v, want %v", tc.ends, got, tc.want)
		}
	}
}

func TestBatchesOfMaxBatchSize(t *testing.T) {
	a := newAM(t, nil)
	m := newManager(t, load(t, "", set("", a)))
	m.Send(alerts(300)...) // queued before Run, so the split is deterministic
	run(t, m)
	first, second := a.next(t), a.next(t)
	if len(first.alerts) != 256 || len(second.alerts) != 44 {
		t.Fatalf("batches of %d and %d, want 256 and 44", len(first.alerts), len(second.alerts))
	}
	if names(first)[0] != "0" || names(second)[0] != "256" {
		t.Errorf("batches out of order: %v... %v...", names(first)[0], names(second)[0])
	}
}

func TestExternalLabels(t *testing.T) {
	a := newAM(t, nil)
	cfg := load(t, "global:\n  external_labels: {site: lab, severity: none}\n", set("", a))
	m := newManager(t, cfg, func(o *Options) { o.ExternalLabels = labels.FromStrings("replaced", "by-config") })
	mine := &Alert{Labels: labels.FromStrings("alertname", "A", "severity", "critical")}
	m.Send(mine)
	run(t, m)
	got := a.next(t).alerts[0].Labels
	want := models.LabelSet{"alertname": "A", "severity": "critical", "site": "lab"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("labels = %v, want %v (the alert's own label wins)", got, want)
	}
	if mine.Labels.Has("site") {
		t.Error("Send changed the caller's alert")
	}
}

// Each entry of alertmanagers gets every batch, and one that fails or hangs
// costs the others nothing.
func TestFailingAlertmanagerDoesNotBlockTheOther(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool // else it hangs past its timeout
	}{{"500", true}, {"timeout", false}} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			good := newAM(t, nil)
			bad := newAM(t, func(r *http.Request) int {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return http.StatusInternalServerError
			})
			m := newManager(t, load(t, "", set("", good), set("      timeout: 100ms\n", bad)))
			m.Send(alerts(3)...)
			stop := run(t, m)
			bad.next(t) // in flight, and held there ...
			if got := names(good.next(t)); len(got) != 3 {
				t.Fatalf("good Alertmanager got %v", got) // ... while the good one got the batch
			}
			if tc.release {
				close(release)
			}
			stop()
			if got := testutil.ToFloat64(m.metrics.errors.WithLabelValues(bad.URL + "/api/v2/alerts")); got != 3 {
				t.Errorf("errors = %v, want 3", got)
			}
			if got := testutil.ToFloat64(m.metrics.errors.WithLabelValues(good.URL + "/api/v2/alerts")); got != 0 {
				t.Errorf("errors of the good one = %v", got)
			}
			// One Alertmanager took them: nothing was dropped.
			if got := testutil.ToFloat64(m.metrics.dropped); got != 0 {
				t.Errorf("dropped = %v, want 0", got)
			}
		})
	}
}

func TestEveryAlertmanagerFailingCountsDropped(t *testing.T) {
	bad := newAM(t, func(*http.Request) int { return http.StatusBadGateway })
	m := newManager(t, load(t, "", set("", bad)))
	m.Send(alerts(2)...)
	run(t, m)()
	if got := testutil.ToFloat64(m.metrics.dropped); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	a := newAM(t, nil)
	m := newManager(t, load(t, "", set("", a)), func(o *Options) { o.QueueCapacity = 3 })
	as := alerts(8)
	m.Send(as[:3]...)
	m.Send(as[3:5]...) // pushes out 0 and 1
	if got := testutil.ToFloat64(m.metrics.dropped); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.metrics.queueLength); got != 3 {
		t.Errorf("queue length = %v, want 3", got)
	}
	m.Send(as[5:]...) // a full queue's worth at once replaces it all
	m.Send(as[4:8]...)
	if got := testutil.ToFloat64(m.metrics.dropped); got != 2+3+4 {
		t.Errorf("dropped = %v, want 9", got)
	}
	run(t, m)
	if got := strings.Join(names(a.next(t)), ","); got != "5,6,7" {
		t.Errorf("sent %s, want the newest 5,6,7", got)
	}
}

func TestBasicAuthPasswordFileNeverLogged(t *testing.T) {
	const secret1, secret2 = "s3cr3t-first", "s3cr3t-second"
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(secret1), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAM(t, nil)
	refusing := newAM(t, func(*http.Request) int { return http.StatusUnauthorized })
	auth := fmt.Sprintf("      basic_auth: {username: gw, password_file: %q}\n", pw)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := newManager(t, load(t, "", set(auth, a, refusing)), func(o *Options) { o.Logger = logger })

	m.Send(alerts(1)...)
	stop := run(t, m)
	if p := a.next(t); p.user != "gw" || p.pass != secret1 {
		t.Errorf("credentials %q:%q", p.user, p.pass)
	}
	refusing.next(t)
	// The file is read per request, so a rotated secret needs no reload.
	if err := os.WriteFile(pw, []byte(secret2), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Send(alerts(1)...)
	if p := a.next(t); p.pass != secret2 {
		t.Errorf("password after rotation %q", p.pass)
	}
	refusing.next(t)
	stop()

	out := logs.String()
	if !strings.Contains(out, "401") {
		t.Errorf("the refusal was not logged:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("a password is in the logs:\n%s", out)
	}
}

func TestDrainOnShutdown(t *testing.T) {
	for _, drain := range []bool{true, false} {
		t.Run(fmt.Sprint("drain=", drain), func(t *testing.T) {
			a := newAM(t, nil)
			m := newManager(t, load(t, "", set("", a)), func(o *Options) { o.DrainOnShutdown = drain })
			m.Send(alerts(300)...)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // shut down before Run sent anything
			if err := m.Run(ctx); err != nil {
				t.Fatal(err)
			}
			sent, dropped := 0, testutil.ToFloat64(m.metrics.dropped)
			for len(a.posts) > 0 {
				sent += len((<-a.posts).alerts)
			}
			if drain && (sent != 300 || dropped != 0) || !drain && (sent != 0 || dropped != 300) {
				t.Errorf("sent %d, dropped %v", sent, dropped)
			}
			if testutil.ToFloat64(m.metrics.queueLength) != 0 {
				t.Error("queue not empty after shutdown")
			}
		})
	}
}

func TestApplyConfigAllOrNothing(t *testing.T) {
	old, other := newAM(t, nil), newAM(t, nil)
	m := newManager(t, load(t, "global:\n  external_labels: {cfg: old}\n", set("", old)))
	want := old.URL + "/api/v2/alerts"

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tls := fmt.Sprintf("      scheme: https\n      tls_config: {ca_file: %q}\n", ca)
	next := load(t, "global:\n  external_labels: {cfg: new}\n", set("", other), set(tls, other))
	// Gone between the load, which checked it, and the reload.
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(next); err == nil || !strings.Contains(err.Error(), "alertmanagers 1") {
		t.Fatalf("ApplyConfig = %v, want an error naming the second entry", err)
	}
	if ams := m.Alertmanagers(); len(ams) != 1 || ams[0].String() != want {
		t.Fatalf("Alertmanagers = %v, want only %s", ams, want)
	}
	m.Send(alerts(1)...)
	run(t, m)()
	if got := old.next(t).alerts[0].Labels["cfg"]; got != "old" {
		t.Errorf("external labels changed by a failed ApplyConfig: cfg=%q", got)
	}
	if len(other.posts) != 0 {
		t.Error("the new config's Alertmanager was used")
	}
}

func TestAlertmanagersAndMetrics(t *testing.T) {
	a := newAM(t, nil)
	reg := prometheus.NewRegistry()
	cfg := load(t, "", set("      path_prefix: /x\n", a, a), set("      scheme: https\n", a))
	m := newManager(t, cfg, func(o *Options) { o.Registerer = reg })
	var got []string
	for _, u := range m.Alertmanagers() {
		got = append(got, u.String())
	}
	host := a.target()
	want := []string{"http://" + host + "/x/api/v2/alerts", "https://" + host + "/api/v2/alerts"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Alertmanagers = %v, want %v (duplicates within an entry merged)", got, want)
	}
	m.Alertmanagers()[0].Host = "elsewhere"
	if m.Alertmanagers()[0].Host != host {
		t.Error("a caller changed where alerts go")
	}

	if got := testutil.ToFloat64(m.metrics.queueCapacity); got != DefaultQueueCapacity {
		t.Errorf("queue capacity = %v", got)
	}
	m.metrics.latency.WithLabelValues("x").Observe(1) // a histogram has no series before a send
	for _, name := range []string{
		"gatewarden_notifications_sent_total", "gatewarden_notifications_errors_total",
		"gatewarden_notifications_dropped_total", "gatewarden_notifications_queue_length",
		"gatewarden_notifications_queue_capacity", "gatewarden_notifications_latency_seconds",
		"gatewarden_notifications_alertmanagers_discovered",
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gatewarden_notifications_alertmanagers_discovered Alertmanagers alerts are sent to.
# TYPE gatewarden_notifications_alertmanagers_discovered gauge
gatewarden_notifications_alertmanagers_discovered 2
`), "gatewarden_notifications_alertmanagers_discovered"); err != nil {
		t.Error(err)
	}

	// A reload without an Alertmanager removes its series.
	if err := m.ApplyConfig(load(t, "", set("", newAM(t, nil)))); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.metrics.sent); n != 1 {
		t.Errorf("sent has %d series after the reload, want 1", n)
	}
}

func TestSendWithoutAlertmanagersDiscards(t *testing.T) {
	m := New(Options{})
	m.Send(alerts(5)...)
	if m.queueLen() != 0 || testutil.ToFloat64(m.metrics.dropped) != 0 {
		t.Error("alerts queued or counted with nowhere to send them")
	}
}
