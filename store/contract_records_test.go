package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Outbox, history, overrides, audit, channels and failure modes: the second
// half of runContract.

func newChannel(t *testing.T, s *Store, name string) Channel {
	return must(s.CreateChannel(ctx, Channel{Name: name, Type: "webhook", Config: json.RawMessage(`{"url":"http://x"}`), Enabled: true}))
}

func enqueue(t *testing.T, s *Store, ch int64, key string, due time.Time) OutboxItem {
	t.Helper()
	o, created, err := s.Enqueue(ctx, OutboxItem{ChannelID: ch, Fingerprint: "fp", IdempotencyKey: key, GroupKey: key,
		Payload: json.RawMessage(`{"k":"` + key + `"}`), NextAttemptAt: due})
	if err != nil || !created {
		t.Fatalf("enqueue %s: created=%v err=%v", key, created, err)
	}
	return o
}

func testOutboxLifecycle(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	a := must(s.UpsertAlert(ctx, alert("o1", "critical", "budget")))
	now := time.Now().UTC()
	o, created, err := s.Enqueue(ctx, OutboxItem{AlertID: a.ID, ChannelID: ch.ID, Fingerprint: "o1",
		IdempotencyKey: "k1", Payload: json.RawMessage(`{"a":1}`)})
	if err != nil || !created || o.State != OutboxPending || o.AlertID != a.ID {
		t.Fatalf("enqueue: %+v %v %v", o, created, err)
	}
	dup, created, err := s.Enqueue(ctx, OutboxItem{ChannelID: ch.ID, IdempotencyKey: "k1", Payload: json.RawMessage(`{"a":2}`)})
	if err != nil || created || dup.ID != o.ID || string(dup.Payload) != `{"a":1}` {
		t.Fatalf("duplicate key: %+v created=%v err=%v", dup, created, err)
	}
	later := enqueue(t, s, ch.ID, "later", now.Add(time.Hour))

	claimed := must(s.ClaimDue(ctx, now.Add(time.Second), 10))
	if len(claimed) != 1 || claimed[0].ID != o.ID || claimed[0].State != OutboxSending || claimed[0].Attempts != 1 {
		t.Fatalf("claim: %+v", claimed)
	}
	if again := must(s.ClaimDue(ctx, now.Add(time.Second), 10)); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	// Retry later, then give up.
	if err := s.MarkFailed(ctx, o.ID, "boom", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := must(s.GetOutboxItem(ctx, o.ID)); got.State != OutboxPending || got.LastError != "boom" {
		t.Fatalf("after retryable failure: %+v", got)
	}
	if c := must(s.ClaimDue(ctx, now.Add(2*time.Minute), 1)); len(c) != 1 || c[0].ID != o.ID || c[0].Attempts != 2 {
		t.Fatalf("retry claim: %+v", c)
	}
	must(0, s.MarkFailed(ctx, o.ID, "fatal", time.Time{}))
	if got := must(s.GetOutboxItem(ctx, o.ID)); got.State != OutboxFailed {
		t.Fatalf("after final failure: %+v", got)
	}
	wantErr(t, s.MarkSent(ctx, o.ID), ErrConflict)
	wantErr(t, s.MarkSent(ctx, 98765), ErrNotFound)

	// Crash recovery: a claim left in sending is requeued once stale.
	c := must(s.ClaimDue(ctx, now.Add(2*time.Hour), 5))
	if len(c) != 1 || c[0].ID != later.ID {
		t.Fatalf("claim later: %+v", c)
	}
	if n := must(s.RequeueStale(ctx, time.Now().Add(-time.Hour))); n != 0 {
		t.Fatalf("requeued a fresh claim: %d", n)
	}
	if n := must(s.RequeueStale(ctx, time.Now().Add(time.Second))); n != 1 {
		t.Fatalf("requeued %d, want 1", n)
	}
	c = must(s.ClaimDue(ctx, time.Now().Add(time.Second), 5))
	if len(c) != 1 || c[0].ID != later.ID || c[0].Attempts != 2 {
		t.Fatalf("claim after requeue: %+v", c)
	}
	must(0, s.MarkSent(ctx, later.ID))
	if got := must(s.GetOutboxItem(ctx, later.ID)); got.State != OutboxSent {
		t.Fatalf("after sent: %+v", got)
	}
	if _, _, err := s.Enqueue(ctx, OutboxItem{IdempotencyKey: "bad", Payload: json.RawMessage(`{`)}); err == nil {
		t.Fatal("invalid JSON payload accepted")
	}
}

func testOutboxClaimExclusive(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	const n = 120
	for i := range n {
		enqueue(t, s, ch.ID, fmt.Sprint("x", i), time.Time{})
	}
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				items, err := s.ClaimDue(ctx, time.Now().Add(time.Second), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) == 0 {
					return
				}
				mu.Lock()
				for _, it := range items {
					got[it.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("claimed %d distinct items, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Fatalf("item %d claimed %d times", id, c)
		}
	}
}

func testHistory(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	a := must(s.UpsertAlert(ctx, alert("h", "info", "budget")))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		st := []string{HistorySent, HistoryFailed, HistorySuppressed}[i%3]
		h := HistoryEntry{AlertID: a.ID, ChannelID: ch.ID, RuleID: 7, TriggeredAt: base.Add(time.Duration(i) * time.Minute),
			Payload: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`), Status: st, Attempt: i%2 + 1}
		if i >= 20 {
			h.AlertID, h.ChannelID = 0, 0
		}
		must(s.AddHistory(ctx, h))
	}
	page1, total, err := s.ListHistory(ctx, HistoryFilter{AlertID: a.ID, Limit: 8})
	if err != nil || total != 20 || len(page1) != 8 || !page1[0].TriggeredAt.Equal(base.Add(19*time.Minute)) {
		t.Fatalf("page1: total=%d len=%d err=%v first=%+v", total, len(page1), err, page1)
	}
	page3, _, _ := s.ListHistory(ctx, HistoryFilter{AlertID: a.ID, Limit: 8, Offset: 16})
	if len(page3) != 4 || page3[3].TriggeredAt != base || string(page3[3].Payload) != `{"i":0}` || page3[3].RuleID != 7 {
		t.Fatalf("page3: %+v", page3)
	}
	f := HistoryFilter{Status: HistoryFailed, Since: base.Add(5 * time.Minute), Until: base.Add(20 * time.Minute)}
	if _, total, _ := s.ListHistory(ctx, f); total != 5 { // i = 7,10,13,16,19
		t.Fatalf("status+time filter total %d, want 5", total)
	}
	if _, total, _ := s.ListHistory(ctx, HistoryFilter{ChannelID: ch.ID}); total != 20 {
		t.Fatalf("channel filter total %d", total)
	}
	if _, err := s.AddHistory(ctx, HistoryEntry{Status: "bogus"}); err == nil {
		t.Fatal("invalid history status accepted")
	}
}

func testOverrides(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	l := map[string]string{"master": "m1", "provider": "openai"}
	o1 := must(s.PutOverride(ctx, Override{Rule: "budget", Labels: l, Level: "warning", Value: 80}))
	// Same label set built in another order: replaces, not duplicates.
	l2 := map[string]string{"provider": "openai", "master": "m1"}
	o2 := must(s.PutOverride(ctx, Override{Rule: "budget", Labels: l2, Level: "warning", Value: 90}))
	if o2.ID != o1.ID || o2.Value != 90 {
		t.Fatalf("replace: %+v vs %+v", o2, o1)
	}
	must(s.PutOverride(ctx, Override{Rule: "budget", Labels: l, Level: "critical", Value: 95}))
	must(s.PutOverride(ctx, Override{Rule: "budget", Level: "critical", Value: 99}))
	must(s.PutOverride(ctx, Override{Rule: "latency", Labels: l, Level: "warning", Value: 2.5}))
	if got := must(s.ListOverrides(ctx, "budget")); len(got) != 3 {
		t.Fatalf("budget overrides: %+v", got)
	}
	if got := must(s.ListOverrides(ctx, "")); len(got) != 4 {
		t.Fatalf("all overrides: %d", len(got))
	}
	must(0, s.DeleteOverride(ctx, "budget", l2, "warning"))
	wantErr(t, s.DeleteOverride(ctx, "budget", l, "warning"), ErrNotFound)
	got := must(s.ListOverrides(ctx, "budget"))
	if len(got) != 2 || got[0].Level != "critical" {
		t.Fatalf("after delete: %+v", got)
	}
}

func testThrottleAudit(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		must(s.AddThrottleAudit(ctx, ThrottleAudit{TenantID: fmt.Sprint("t", i%2), PluginID: "p", InstanceID: "i1",
			Action: "apply", Decision: json.RawMessage(`{"max_concurrency":2}`), Result: "ok", CreatedAt: base.Add(time.Duration(i) * time.Second)}))
	}
	items, total, err := s.ListThrottleAudit(ctx, AuditFilter{TenantID: "t1", Limit: 2})
	if err != nil || total != 3 || len(items) != 2 || !items[0].CreatedAt.Equal(base.Add(5*time.Second)) ||
		string(items[0].Decision) != `{"max_concurrency":2}` {
		t.Fatalf("audit: total=%d items=%+v err=%v", total, items, err)
	}
	if _, total, _ := s.ListThrottleAudit(ctx, AuditFilter{Since: base.Add(4 * time.Second)}); total != 2 {
		t.Fatalf("since filter total %d", total)
	}
}

func testChannels(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	c := newChannel(t, s, "ops-feishu")
	if c.ID == 0 || !c.Enabled || string(c.Config) != `{"url":"http://x"}` {
		t.Fatalf("create: %+v", c)
	}
	_, err := s.CreateChannel(ctx, Channel{Name: "ops-feishu", Type: "feishu"})
	wantErr(t, err, ErrConflict)
	c.Enabled, c.Type, c.Config = false, "feishu", json.RawMessage(`{"webhook":"https://open.feishu.cn/x","secret":"s"}`)
	u := must(s.UpdateChannel(ctx, c))
	if u.Enabled || u.Type != "feishu" || string(u.Config) != string(c.Config) {
		t.Fatalf("update: %+v", u)
	}
	if got := must(s.GetChannel(ctx, c.ID)); got.Type != "feishu" || got.Enabled {
		t.Fatalf("get: %+v", got)
	}
	newChannel(t, s, "second")
	if all := must(s.ListChannels(ctx)); len(all) != 2 || all[0].ID != c.ID {
		t.Fatalf("list: %+v", all)
	}
	enqueue(t, s, c.ID, "gone-with-channel", time.Time{})
	must(0, s.DeleteChannel(ctx, c.ID))
	wantErr(t, s.DeleteChannel(ctx, c.ID), ErrNotFound)
	_, err = s.GetChannel(ctx, c.ID)
	wantErr(t, err, ErrNotFound)
	_, err = s.UpdateChannel(ctx, Channel{ID: 4242, Name: "n", Type: "email"})
	wantErr(t, err, ErrNotFound)
}

func testSQLLookingInput(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	evil := []string{"active' OR '1'='1", "x'; DROP TABLE alerts; --", `"; DELETE FROM alerts; --`, "?", "$1"}
	a := alert(evil[1], "critical", evil[0])
	a.Title, a.Labels["q"] = evil[2], evil[3]
	stored := must(s.UpsertAlert(ctx, a))
	must(s.UpsertAlert(ctx, alert("plain", "info", "budget")))
	for _, v := range evil {
		_, total := list(t, s, AlertFilter{Status: v})
		if total != 0 {
			t.Fatalf("status filter %q matched %d", v, total)
		}
		if _, total := list(t, s, AlertFilter{Severity: v}); total != 0 {
			t.Fatalf("severity filter %q matched %d", v, total)
		}
	}
	if items, total := list(t, s, AlertFilter{Type: evil[0]}); total != 1 || items[0].Fingerprint != evil[1] {
		t.Fatalf("type filter as data: %d %+v", total, items)
	}
	got := must(s.GetAlert(ctx, stored.ID))
	if got.Title != evil[2] || got.Labels["q"] != "?" {
		t.Fatalf("round trip: %+v", got)
	}
	if _, total := list(t, s, AlertFilter{}); total != 2 {
		t.Fatalf("table damaged: total %d", total)
	}
	if _, total, err := s.ListHistory(ctx, HistoryFilter{Status: evil[0]}); err != nil || total != 0 {
		t.Fatalf("history filter: %d %v", total, err)
	}
	if _, total, err := s.ListThrottleAudit(ctx, AuditFilter{TenantID: evil[1]}); err != nil || total != 0 {
		t.Fatalf("audit filter: %d %v", total, err)
	}
}

func testClosedUnavailable(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	a := must(s.UpsertAlert(ctx, alert("c", "info", "budget")))
	s.Close()
	checks := map[string]error{}
	_, checks["get"] = s.GetAlert(ctx, a.ID)
	_, _, checks["list"] = s.ListAlerts(ctx, AlertFilter{})
	_, checks["stats"] = s.AlertStats(ctx)
	_, checks["upsert"] = s.UpsertAlert(ctx, alert("d", "info", "budget"))
	_, checks["ack"] = s.AckAlert(ctx, a.ID, "x")
	_, checks["claim"] = s.ClaimDue(ctx, time.Now(), 1)
	checks["ping"] = s.Ping(ctx)
	for name, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", name, err)
		}
	}
}
