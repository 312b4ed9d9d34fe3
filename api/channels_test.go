package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/receiver/webhook"
	"github.com/gatewarden/gatewarden/store"
)

func TestChannelsRedactSecrets(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		body := `{"name":"ops-bot","type":"feishu","config":{"url":"https://open.feishu.cn/open-apis/bot/v2/hook/tok-123","secret":"sign-456","mentions":["ou_1"]}}`
		created := srv.expect("POST", "/admin/alert-channels", body, http.StatusCreated, "")
		path := fmt.Sprintf("/admin/alert-channels/%d", id(created))
		_, raw := srv.raw("GET", path, "", readToken)
		_, list := srv.raw("GET", "/admin/alert-channels", "")
		for _, b := range [][]byte{raw, list} {
			if strings.Contains(string(b), "tok-123") || strings.Contains(string(b), "sign-456") || !strings.Contains(string(b), `"secret":"\u003csecret\u003e"`) {
				t.Fatalf("secrets not redacted: %s", b)
			}
		}
		// Sending the redacted config back keeps the stored secrets.
		var got channelJSON
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		upd := fmt.Sprintf(`{"name":"ops-bot","type":"feishu","enabled":false,"config":%s}`, strings.Replace(string(got.Config), `"ou_1"`, `"ou_2"`, 1))
		srv.expect("PUT", path, upd, http.StatusOK, "")
		stored, err := s.GetChannel(context.Background(), id(created))
		if err != nil {
			t.Fatal(err)
		}
		if c := string(stored.Config); !strings.Contains(c, "tok-123") || !strings.Contains(c, "sign-456") || !strings.Contains(c, "ou_2") || stored.Enabled {
			t.Fatalf("stored after update: %s enabled=%v", c, stored.Enabled)
		}
		// A new secret replaces the old one.
		srv.expect("PUT", path, `{"name":"ops-bot","type":"feishu","config":{"url":"https://open.feishu.cn/hook/new","secret":"new-secret"}}`, http.StatusOK, "")
		if stored, _ = s.GetChannel(context.Background(), id(created)); !strings.Contains(string(stored.Config), "new-secret") {
			t.Fatalf("secret not replaced: %s", stored.Config)
		}
		// The conflict in the API's words, not the driver's (table names,
		// error codes).
		if c := srv.expect("POST", "/admin/alert-channels", body, http.StatusConflict, `a channel named "ops-bot" exists`); strings.Contains(fmt.Sprint(c), "constraint") {
			t.Fatalf("the driver's text leaks: %v", c)
		}
		srv.expect("POST", "/admin/alert-channels", `{"name":"x","type":"pager"}`, http.StatusBadRequest, `unknown channel type "pager"`)
		srv.expect("POST", "/admin/alert-channels", `{"type":"email"}`, http.StatusBadRequest, "name is required")
		srv.expect("POST", "/admin/alert-channels", `{"name":"x","type":"email","config":[1]}`, http.StatusBadRequest, "config must be a JSON object")
		srv.expect("POST", path+"/test", "", http.StatusNotImplemented, "no delivery integrations")
		if code, _ := srv.raw("DELETE", path, ""); code != http.StatusNoContent {
			t.Fatalf("delete: %d", code)
		}
		srv.expect("GET", path, "", http.StatusNotFound, "")
	})
}

func TestHistory(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		ctx := context.Background()
		a := srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "")
		ch, err := s.CreateChannel(ctx, store.Channel{Name: "hook", Type: "webhook", Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(1_800_000_000, 0)
		for i, st := range []string{"failed", "failed", "sent", "suppressed"} {
			if _, err := s.AddHistory(ctx, store.HistoryEntry{AlertID: id(a), ChannelID: ch.ID, Status: st, Attempt: i + 1,
				TriggeredAt: t0.Add(time.Duration(i) * time.Minute), Error: map[bool]string{true: "HTTP 500"}[st == "failed"]}); err != nil {
				t.Fatal(err)
			}
		}
		all := srv.expect("GET", fmt.Sprintf("/admin/alert-history?alert_id=%d&channel_id=%d", id(a), ch.ID), "", http.StatusOK, "", readToken)
		if all["total"] != 4.0 {
			t.Fatalf("history: %v", all)
		}
		first := all["items"].([]any)[0].(map[string]any)
		if first["status"] != "suppressed" || first["attempt"] != 4.0 || first["triggered_at"] != float64(t0.Add(3*time.Minute).Unix()) {
			t.Fatalf("newest first, unix seconds: %v", first)
		}
		failed := srv.expect("GET", "/admin/alert-history?status=failed&since=1800000000&until=2030-01-15T08:00:30Z", "", http.StatusOK, "")
		if failed["total"] != 2.0 || failed["items"].([]any)[0].(map[string]any)["error"] != "HTTP 500" {
			t.Fatalf("failed: %v", failed)
		}
		srv.expect("GET", "/admin/alert-history?status=lost", "", http.StatusBadRequest, `unknown status "lost"`)
		srv.expect("GET", "/admin/alert-history?since=yesterday", "", http.StatusBadRequest, `since "yesterday"`)
		srv.expect("GET", "/admin/alert-history?alert_id=x", "", http.StatusBadRequest, `alert_id "x"`)
	})
}

// A database that goes away: 503 with a reason, and the same process
// answers again once it is back.
func TestPostgresOutage(t *testing.T) {
	pg.Require(t)
	s := storetest.Open(t, store.Options{DatabaseURL: pg.NewDB(t)})
	srv := newServer(t, s, "")
	srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "")
	if err := pg.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = pg.Resume()
		}
	}()
	code, raw := srv.raw("GET", "/admin/alerts", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), "store is unavailable") {
		t.Fatalf("store down: %d %s", code, raw)
	}
	srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusServiceUnavailable, "try again later")
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	if got := srv.expect("GET", "/admin/alerts", "", http.StatusOK, ""); got["total"] != 1.0 {
		t.Fatalf("after recovery: %v", got)
	}
}

// The test button sends through the real integration: a signed webhook
// that a sink verifies, and an error without secrets when it fails.
func TestChannelTestMessage(t *testing.T) {
	s := storetest.Open(t, store.Options{Path: t.TempDir()})
	got := make(chan *http.Request, 1)
	var body []byte
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		if err := webhook.Verify([]byte("hook-secret"), r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- r
	}))
	defer sink.Close()
	srv := newServerWith(t, s, "", &receiver.Integrations{})
	srv.expect("POST", "/admin/alert-channels", `{"name":"hook","type":"webhook","config":{"url":"x"}}`, http.StatusBadRequest, "invalid webhook config")
	srv.expect("POST", "/admin/alert-channels", `{"name":"hook","type":"webhook","config":{"url":"http://x","sekret":"y"}}`, http.StatusBadRequest, `unknown field "sekret"`)
	ok := srv.expect("POST", "/admin/alert-channels", fmt.Sprintf(`{"name":"hook","type":"webhook","config":{"url":%q,"secret":"hook-secret"}}`, sink.URL+"/hook?token=tok-1"), http.StatusCreated, "")
	if out := srv.expect("POST", fmt.Sprintf("/admin/alert-channels/%d/test", id(ok)), "", http.StatusOK, ""); out["status"] != "sent" {
		t.Fatalf("test: %v", out)
	}
	<-got
	if !strings.Contains(string(body), `"kind":"test"`) || !strings.Contains(string(body), `"version":"4"`) {
		t.Fatalf("test payload: %s", body)
	}
	bad := srv.expect("POST", "/admin/alert-channels", fmt.Sprintf(`{"name":"bad","type":"webhook","config":{"url":%q,"secret":"wrong-secret"}}`, sink.URL+"/hook?token=tok-2"), http.StatusCreated, "")
	code, raw := srv.raw("POST", fmt.Sprintf("/admin/alert-channels/%d/test", id(bad)), "")
	if code != http.StatusBadGateway || !strings.Contains(string(raw), "401") || strings.Contains(string(raw), "tok-2") || strings.Contains(string(raw), "wrong-secret") {
		t.Fatalf("failed test: %d %s", code, raw)
	}
}
