package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

func TestWhoami(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		if got := srv.expect("GET", "/admin/whoami", "", http.StatusOK, ""); got["role"] != "admin" || got["open"] != false {
			t.Errorf("admin token: %v", got)
		}
		if got := srv.expect("GET", "/admin/whoami", "", http.StatusOK, "", readToken); got["role"] != "read" {
			t.Errorf("read token: %v", got)
		}
		srv.expect("GET", "/admin/whoami", "", http.StatusUnauthorized, "a valid bearer token", "wrong")
		open := newServer(t, s, "api: {}\n")
		if got := open.expect("GET", "/admin/whoami", "", http.StatusOK, "", ""); got["role"] != "admin" || got["open"] != true {
			t.Errorf("open API: %v", got)
		}
	})
}

func TestOutboxBacklog(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, key := range []string{"a", "b", "c"} {
			if _, _, err := s.Enqueue(ctx, store.OutboxItem{Fingerprint: "f" + key, Payload: []byte(`{}`), IdempotencyKey: key}); err != nil {
				t.Fatal(err)
			}
		}
		claimed, err := s.ClaimDue(ctx, time.Now().Add(time.Minute), 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if err := s.MarkFailed(ctx, claimed[0].ID, "connection refused", time.Time{}); err != nil {
			t.Fatal(err)
		}
		srv := newServer(t, s, "")
		got := srv.expect("GET", "/admin/outbox", "", http.StatusOK, "", readToken)
		if got["pending"] != 2.0 || got["failed"] != 1.0 || got["sending"] != 0.0 || got["oldest_pending_at"] == nil || got["total"] != 3.0 {
			t.Fatalf("backlog: %v", got)
		}
		failed := srv.expect("GET", "/admin/outbox?state=failed", "", http.StatusOK, "")
		items, _ := failed["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("failed items: %v", failed)
		}
		if it := items[0].(map[string]any); it["attempts"] != 1.0 || it["last_error"] != "connection refused" || it["state"] != "failed" {
			t.Errorf("failed item: %v", it)
		}
		srv.expect("GET", "/admin/outbox?state=lost", "", http.StatusBadRequest, `unknown state "lost"`)
		srv.expect("GET", "/admin/outbox?channel_id=x", "", http.StatusBadRequest, "channel_id")
	})
}
