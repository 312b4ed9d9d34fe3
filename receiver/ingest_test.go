package receiver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/notify"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	amtemplate "github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

type ingestRig struct {
	in    *Ingest
	srv   *httptest.Server
	store *store.Store
	rec   *Recorder
	mu    sync.Mutex
	fwd   []Alert
}

func newIngestRig(t *testing.T, guard *access.Guard) *ingestRig {
	t.Helper()
	rig := &ingestRig{store: openStore(t)}
	rig.rec = NewRecorder(rig.store, 1000, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rig.rec.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if guard == nil {
		guard = access.New()
	}
	in := NewIngest(IngestOptions{MaxBodySize: 64 << 10,
		Inbox: Inbox{Episodes: NewEpisodes(), Recorder: rig.rec, Route: func(as []Alert) { rig.mu.Lock(); rig.fwd = append(rig.fwd, as...); rig.mu.Unlock() }}})
	mux := http.NewServeMux()
	in.Register(mux, guard)
	rig.in = in
	rig.srv = httptest.NewServer(mux)
	t.Cleanup(rig.srv.Close)
	return rig
}

func (rig *ingestRig) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(rig.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// Alertmanager's own webhook integration posts to the receiver: what any
// Alertmanager in front of gatewarden sends arrives intact.
func TestAlertmanagerWebhookPayload(t *testing.T) {
	rig := newIngestRig(t, nil)
	u, _ := url.Parse(rig.srv.URL + "/api/v1/webhook/alertmanager")
	conf := &amwebhook.WebhookConfig{HTTPConfig: &commoncfg.HTTPClientConfig{}, URL: amcommoncfg.SecretTemplateURL(u.String())}
	tmpl, err := amtemplate.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://alertmanager:9093")
	n, err := amwebhook.New(conf, tmpl, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	firing := &types.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": "GatewayErrorRate", "master": "m1", "severity": "critical"},
		Annotations: model.LabelSet{"summary": "5xx at 30%"}, StartsAt: start, EndsAt: time.Now().Add(5 * time.Minute), GeneratorURL: "http://prom/graph"}}
	resolved := &types.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": "GatewayErrorRate", "master": "m2", "severity": "warning"},
		StartsAt: start, EndsAt: time.Now().Add(-time.Second)}}
	ctx := notify.WithGroupKey(context.Background(), `{}:{alertname="GatewayErrorRate"}`)
	ctx = notify.WithReceiverName(ctx, "gatewarden")
	ctx = notify.WithGroupLabels(ctx, model.LabelSet{"alertname": "GatewayErrorRate"})
	ctx = notify.WithNotificationReason(ctx, notify.ReasonDoNotNotify+1)
	for range 2 { // at least once: the same payload twice collapses
		if retry, err := n.Notify(ctx, firing, resolved); err != nil {
			t.Fatalf("Alertmanager's webhook: retry=%v %v", retry, err)
		}
	}
	waitFor(t, "both alerts stored", func() bool {
		items, total, _ := rig.store.ListAlerts(context.Background(), store.AlertFilter{})
		return total == 2 && items != nil
	})
	active, _, _ := rig.store.ListAlerts(context.Background(), store.AlertFilter{Status: store.StatusActive})
	res, _, _ := rig.store.ListAlerts(context.Background(), store.AlertFilter{Status: store.StatusResolved})
	if len(active) != 1 || active[0].Labels["master"] != "m1" || active[0].Severity != "critical" || active[0].Title != "5xx at 30%" ||
		len(res) != 1 || res[0].Labels["master"] != "m2" {
		t.Fatalf("active %+v resolved %+v", active, res)
	}
	if active[0].Fingerprint != firing.Fingerprint().String() {
		t.Fatalf("fingerprint %s, Alertmanager's %s", active[0].Fingerprint, firing.Fingerprint())
	}
}

func TestAPIv2Alerts(t *testing.T) {
	rig := newIngestRig(t, nil)
	body := `[{"labels":{"alertname":"A","master":"m1"},"annotations":{"summary":"s"}},
	          {"labels":{"alertname":"A","master":"m1"}},
	          {"labels":{"alertname":"B"},"startsAt":"2026-12-01T10:00:00Z","endsAt":"2026-12-01T09:00:00Z"},
	          {"labels":{}},
	          {"labels":{"alertname":"C"},"endsAt":"2020-01-01T00:00:00Z"}]`
	code, msg := rig.post(t, "/api/v2/alerts", body)
	if code != http.StatusBadRequest || !strings.Contains(msg, "endsAt 2026-12-01T09:00:00Z is before startsAt") || !strings.Contains(msg, "alert without labels") {
		t.Fatalf("%d %s", code, msg)
	}
	rig.mu.Lock()
	got := append([]Alert(nil), rig.fwd...)
	rig.mu.Unlock()
	if len(got) != 2 || got[0].Labels["alertname"] != "A" || got[1].Labels["alertname"] != "C" || got[0].EndsAt.Sub(got[0].StartsAt).Truncate(time.Microsecond) != DefaultResolveTimeout {
		t.Fatalf("forwarded: %+v", got)
	}
	if code, _ := rig.post(t, "/api/v2/alerts", `[{"labels":{"alertname":"D"}}]`); code != http.StatusOK {
		t.Fatalf("valid batch: %d", code)
	}
	for body, want := range map[string]string{
		`[{"labels":`:                  "invalid JSON body: jsontext: unexpected EOF",
		`{"labels":{}}`:                "the body: want an array of alerts, got an object",
		`[{"labels":{"alertname":1}}]`: "/0/labels/alertname: want a string, got a number",
		`[{"labels":{"a":"b"},"startsAt":"yesterday"}]`:                     `/0/startsAt: parsing time \"yesterday\"`,
		`[` + strings.Repeat(`{"labels":{"alertname":"x"}},`, 4000) + `{}]`: "larger than 65536 bytes",
	} {
		code, msg := rig.post(t, "/api/v2/alerts", body)
		if (code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge) || !strings.Contains(msg, want) {
			t.Errorf("%.40s: %d %s", body, code, msg)
		}
	}
	if code, msg := rig.post(t, "/api/v1/webhook/alertmanager", `{"version":"3","alerts":[]}`); code != http.StatusBadRequest || !strings.Contains(msg, "version 4") {
		t.Errorf("old webhook version: %d %s", code, msg)
	}
}

func TestIngestAuthAndBackpressure(t *testing.T) {
	rig := newIngestRig(t, guardWith(t, "receiver:\n  auth: {bearer_token_file: ingest.token}\n  route: {receiver: r}\n  receivers: [{name: r}]\n",
		map[string]string{"ingest.token": "ok"}))
	if code, _ := rig.post(t, "/api/v2/alerts", `[]`); code != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d", code)
	}
	req, _ := http.NewRequest("POST", rig.srv.URL+"/api/v2/alerts", strings.NewReader(`[{"labels":{"alertname":"A"}}]`))
	req.Header.Set("Authorization", "Bearer ok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("with credentials: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	// A store that is not keeping up: 503, so the sender retries.
	rig.rec.setFailing(true)
	req, _ = http.NewRequest("POST", rig.srv.URL+"/api/v2/alerts", strings.NewReader(`[{"labels":{"alertname":"B"}}]`))
	req.Header.Set("Authorization", "Bearer ok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("store failing: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

// guardWith is the access guard of a config whose files (name → content)
// are written beside it.
func guardWith(t *testing.T, yml string, files map[string]string) *access.Guard {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]byte(yml), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	g := access.New()
	g.Apply(cfg)
	return g
}

// TestSlowSendersHoldNoDecodingSlot: clients that send a few bytes of a
// body and stall, more of them than there are decoding slots, do not keep
// a prompt sender out.
func TestSlowSendersHoldNoDecodingSlot(t *testing.T) {
	rig := newIngestRig(t, nil)
	for range cap(rig.in.decoding) + 2 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(rig.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"labels\":")
	}
	// Were the slots taken before the bodies are read, the prompt sender
	// would wait for the slow ones for as long as they stall.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(rig.srv.URL+"/api/v2/alerts", "application/json", strings.NewReader(`[{"labels":{"alertname":"Prompt"}}]`))
	if err != nil {
		t.Fatalf("a prompt sender behind slow ones: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a prompt sender behind slow ones: %s", resp.Status)
	}
}
