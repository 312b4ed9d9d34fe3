package store

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// The outbox's console queries, the 1 → 2 migration and the closed store:
// part of runContract.

func testOutboxStatsList(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	if p, se, f, oldest, err := s.OutboxStats(ctx); err != nil || p+se+f != 0 || !oldest.IsZero() {
		t.Fatalf("empty stats: %d %d %d %v %v", p, se, f, oldest, err)
	}
	if items, total, err := s.ListOutbox(ctx, OutboxFilter{}); err != nil || total != 0 || items == nil || len(items) != 0 {
		t.Fatalf("empty list: %v %d %v", items, total, err)
	}
	ch1, ch2 := newChannel(t, s, "one"), newChannel(t, s, "two")
	base := time.Now().UTC().Add(-time.Hour)
	var items []OutboxItem // x0..x4 on ch1, x5..x7 on ch2, due in that order
	for i := range 8 {
		ch := ch1.ID
		if i >= 5 {
			ch = ch2.ID
		}
		items = append(items, enqueue(t, s, ch, fmt.Sprint("x", i), base.Add(time.Duration(i)*time.Second)))
	}
	c := must(s.ClaimDue(ctx, time.Now(), 3))
	if len(c) != 3 || c[0].ID != items[0].ID || c[2].ID != items[2].ID {
		t.Fatalf("claim: %+v", c)
	}
	must(0, s.MarkSent(ctx, items[0].ID))
	must(0, s.MarkFailed(ctx, items[1].ID, "gave up", time.Time{}))
	// items[2] stays sending; x3..x7 are pending.
	oldest := items[3].CreatedAt
	for _, it := range items[4:] {
		if it.CreatedAt.Before(oldest) {
			oldest = it.CreatedAt
		}
	}
	p, se, f, gotOldest, err := s.OutboxStats(ctx)
	if err != nil || p != 5 || se != 1 || f != 1 || !gotOldest.Equal(oldest) {
		t.Fatalf("stats: pending=%d sending=%d failed=%d oldest=%v (want %v) err=%v", p, se, f, gotOldest, oldest, err)
	}

	ids := func(f OutboxFilter, wantTotal int) []int64 {
		t.Helper()
		got, total, err := s.ListOutbox(ctx, f)
		if err != nil || total != wantTotal {
			t.Fatalf("%+v: total %d (%v), want %d", f, total, err, wantTotal)
		}
		out := []int64{}
		for _, it := range got {
			out = append(out, it.ID)
		}
		return out
	}
	id := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, items[i].ID)
		}
		return out
	}
	for _, c := range []struct {
		f     OutboxFilter
		total int
		want  []int64
	}{
		{OutboxFilter{}, 8, id(7, 6, 5, 4, 3, 2, 1, 0)},
		{OutboxFilter{Limit: 3, Offset: 3}, 8, id(4, 3, 2)},
		{OutboxFilter{Offset: 8}, 8, id()},
		{OutboxFilter{State: OutboxPending}, 5, id(7, 6, 5, 4, 3)},
		{OutboxFilter{State: OutboxPending, ChannelID: ch1.ID}, 2, id(4, 3)},
		{OutboxFilter{ChannelID: ch2.ID}, 3, id(7, 6, 5)},
		{OutboxFilter{State: OutboxFailed}, 1, id(1)},
		{OutboxFilter{State: "pending' OR '1'='1"}, 0, id()},
	} {
		if got := ids(c.f, c.total); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
	}
	got, _, _ := s.ListOutbox(ctx, OutboxFilter{State: OutboxFailed})
	if got[0].LastError != "gave up" || got[0].ChannelID != ch1.ID || string(got[0].Payload) != `{"k":"x1"}` {
		t.Fatalf("listed item: %+v", got[0])
	}
}

// openAtVersion creates the schema as a gatewarden binary that knew only
// the migrations up to version did, with the package's own migration code.
// The schema_migrations DDL repeats migrate's; a drift would fail the
// reopen that follows.
func openAtVersion(t *testing.T, o Options, version int) *Store {
	d, driver, dsn := sqliteDialect, "sqlite", "file:"+o.Path
	if o.DatabaseURL != "" {
		d, driver, dsn = postgresDialect, "pgx", o.DatabaseURL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{d: d, w: db, r: db, log: slog.New(slog.DiscardHandler), m: newMetrics(nil, d.name)}
	t.Cleanup(func() { s.Close() })
	conn := must(db.Conn(ctx))
	defer conn.Close()
	must(conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
		name TEXT NOT NULL, applied_at BIGINT NOT NULL)`))
	for _, m := range must(loadMigrations(d)) {
		if m.version <= version {
			must(s.applyMigration(ctx, conn, m))
		}
	}
	return s
}

func testMigrateFromV1(t *testing.T, newDB backend) {
	o := newDB(t)
	v1 := openAtVersion(t, o, 1)
	if v := must(v1.SchemaVersion(ctx)); v != 1 {
		t.Fatalf("old schema at version %d", v)
	}
	a := oldAlert(t, v1, "from-v1")
	ch := newChannel(t, v1, "old")
	must(v1.w.Exec(v1.d.rebind(`INSERT INTO outbox (channel_id, payload, state, next_attempt_at, idempotency_key, created_at, updated_at)
		VALUES (?, '{}', 'pending', 0, 'old-item', 0, 0)`), ch.ID))
	if _, err := v1.CreateSilence(ctx, Silence{Matchers: cpuMatchers(), EndsAt: time.Now().Add(time.Hour)}); err == nil {
		t.Fatal("silences table exists at version 1")
	}
	v1.Close()

	s := openStore(t, o)
	ms := must(loadMigrations(s.d))
	if v := must(s.SchemaVersion(ctx)); v != ms[len(ms)-1].version || v < 2 {
		t.Fatalf("schema version %d after upgrade", v)
	}
	var n int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM schema_migrations WHERE version = 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration 1 recorded %d times (%v)", n, err)
	}
	if got := must(s.GetAlert(ctx, a.ID)); got.Fingerprint != "from-v1" {
		t.Fatalf("alert lost in the upgrade: %+v", got)
	}
	if p, _, _, _, err := s.OutboxStats(ctx); err != nil || p != 1 {
		t.Fatalf("outbox after upgrade: %d pending (%v)", p, err)
	}
	sil := newSilence(t, s, silenceBase, silenceBase.Add(time.Hour))
	if got := must(s.GetSilence(ctx, sil.ID)); got.ID != sil.ID {
		t.Fatalf("silence after upgrade: %+v", got)
	}
	if made := claimN(t, s, note("after-upgrade", t0Ledger, TransitionFiring, ch.ID, "")); len(made) != 1 {
		t.Fatal("first ledger claim after upgrade refused")
	}
}

// oldAlert writes an alert row as a binary before the ledger did.
func oldAlert(t *testing.T, s *Store, fp string) Alert {
	t.Helper()
	now := time.Now().UnixMicro()
	must(s.w.Exec(s.d.rebind(`INSERT INTO alerts (fingerprint, type, severity, status, labels, created_at, updated_at)
		VALUES (?, 'budget', 'critical', 'active', '{}', ?, ?)`), fp, now, now))
	var id int64
	must(0, s.w.QueryRow(s.d.rebind("SELECT id FROM alerts WHERE fingerprint = ?"), fp).Scan(&id))
	return Alert{ID: id, Fingerprint: fp}
}

// testMigrateFromV3 upgrades a database from before the ledger: its alerts
// and history stay readable, and owe nothing (a restart does not notify
// them again).
func testMigrateFromV3(t *testing.T, newDB backend) {
	o := newDB(t)
	v3 := openAtVersion(t, o, 3)
	a := oldAlert(t, v3, "from-v3")
	must(v3.w.Exec(v3.d.rebind(`INSERT INTO alert_history (alert_id, triggered_at, status, attempt) VALUES (?, 1, 'sent', 1)`), a.ID))
	v3.Close()
	s := openStore(t, o)
	if got := must(s.GetAlert(ctx, a.ID)); got.Fingerprint != "from-v3" || !got.StartsAt.IsZero() || got.Annotations != nil {
		t.Fatalf("alert after upgrade: %+v", got)
	}
	if h := historyOf(t, s, HistoryFilter{AlertID: a.ID}); len(h) != 1 || h[0].Fingerprint != "" {
		t.Fatalf("history after upgrade: %+v", h)
	}
	if open := must(s.OpenAlerts(ctx, time.Time{}, nil)); len(open) != 0 {
		t.Fatalf("an alert from before the ledger owes %+v", open)
	}
}

func testReceiverClosed(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	sil := newSilence(t, s, silenceBase, silenceBase.Add(time.Hour))
	s.Close()
	now := time.Now()
	checks := map[string]error{}
	_, checks["create_silence"] = s.CreateSilence(ctx, Silence{Matchers: cpuMatchers(), EndsAt: now.Add(time.Hour)})
	_, checks["update_silence"] = s.UpdateSilence(ctx, sil)
	_, checks["get_silence"] = s.GetSilence(ctx, sil.ID)
	_, checks["list_silences"] = s.ListSilences(ctx, SilenceFilter{})
	_, checks["expire_silence"] = s.ExpireSilence(ctx, sil.ID, now, "test")
	_, checks["prune_silences"] = s.PruneSilences(ctx, now)
	checks["ledger"] = s.InLedger(ctx, time.Now(), func(*LedgerTx) error { return nil })
	_, checks["open_alerts"] = s.OpenAlerts(ctx, time.Time{}, nil)
	_, checks["prune_ledger"] = s.PruneLedger(ctx, now)
	_, checks["pending_notifications"] = s.PendingNotifications(ctx)
	_, checks["step_records"] = s.StepRecords(ctx, "r")
	_, _, _, _, checks["outbox_stats"] = s.OutboxStats(ctx)
	_, _, checks["outbox_list"] = s.ListOutbox(ctx, OutboxFilter{})
	for name, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", name, err)
		}
	}
}
