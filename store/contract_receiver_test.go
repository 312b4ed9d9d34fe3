package store

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"
)

// Cooldowns, the outbox's console queries, the 1 → 2 migration and the
// closed store: part of runContract.

// claimOne makes a single claim.
func claimOne(s *Store, key, severity string, interval time.Duration, now time.Time) (bool, time.Time, error) {
	res, err := s.ClaimCooldowns(ctx, []CooldownClaim{{Key: key, Severity: severity, Interval: interval}}, now)
	if err != nil {
		return false, time.Time{}, err
	}
	return res[0].Allowed, res[0].Last, nil
}

func claim(t *testing.T, s *Store, key, severity string, interval time.Duration, now time.Time) (bool, time.Time) {
	t.Helper()
	ok, last, err := claimOne(s, key, severity, interval, now)
	if err != nil {
		t.Fatalf("claim(%q, %s, %v): %v", key, severity, now, err)
	}
	return ok, last
}

func wantClaim(t *testing.T, s *Store, key, severity string, now time.Time, wantOK bool, wantLast time.Time) {
	t.Helper()
	ok, last := claim(t, s, key, severity, time.Hour, now)
	if ok != wantOK || !last.Equal(wantLast) {
		t.Fatalf("claim %q %s at %v: allowed=%v last=%v, want %v %v", key, severity, now, ok, last, wantOK, wantLast)
	}
}

func testCooldownClaim(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	const key = "cpu_anomaly/t1/p1/i1/feishu-ops"
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	h := time.Hour
	wantClaim(t, s, key, "warning", t0, true, t0)
	wantClaim(t, s, key, "warning", t0.Add(30*time.Minute), false, t0)
	wantClaim(t, s, key, "warning", t0.Add(h-time.Microsecond), false, t0)
	wantClaim(t, s, key, "warning", t0.Add(h), true, t0.Add(h)) // the boundary is allowed
	t1 := t0.Add(h + time.Minute)
	wantClaim(t, s, key, "critical", t1, true, t1) // escalation: at once
	wantClaim(t, s, key, "critical", t1.Add(time.Minute), false, t1)
	// Keys are independent.
	wantClaim(t, s, key+"/email", "critical", t1.Add(time.Minute), true, t1.Add(time.Minute))

	// Resolution releases the key: a re-fire notifies at once.
	must(0, s.ReleaseCooldown(ctx, key))
	wantClaim(t, s, key, "critical", t1.Add(2*time.Minute), true, t1.Add(2*time.Minute))
	must(0, s.ReleaseCooldown(ctx, "never-claimed"))

	// No interval, no cooldown.
	for range 2 {
		if ok, _ := claim(t, s, "no-cooldown", "info", 0, t0); !ok {
			t.Fatal("interval 0 suppressed a notification")
		}
	}
	_, _, err := claimOne(s, "", "info", h, t0)
	wantErr(t, err, ErrInvalid)

	// Pruning deletes keys sent before the cut; a pruned key claims afresh.
	// Sent times now: key t1+2m, key/email t1+1m, no-cooldown t0.
	if n := must(s.PruneCooldowns(ctx, t1.Add(time.Minute))); n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	if n := must(s.PruneCooldowns(ctx, t1.Add(2*time.Minute+time.Microsecond))); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	wantClaim(t, s, key, "critical", t1.Add(3*time.Minute), true, t1.Add(3*time.Minute))
}

// A batch answers each claim in its place as one claim after the other
// would, across the transactions it is cut into.
func testCooldownClaims(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	wantClaim(t, s, "held", "warning", t0, true, t0)
	now := t0.Add(time.Minute)
	claims := []CooldownClaim{
		{Key: "z-new", Severity: "warning", Interval: time.Hour},
		{Key: "held", Severity: "warning", Interval: time.Hour},
		{Key: "a-twice", Severity: "warning", Interval: time.Hour},
		{Key: "a-twice", Severity: "warning", Interval: time.Hour}, // the first claim holds it
		{Key: "held", Severity: "critical", Interval: time.Hour},   // an escalation passes
	}
	for i := range claimChunk + 5 { // more than one transaction
		claims = append(claims, CooldownClaim{Key: fmt.Sprintf("bulk-%04d", i%(claimChunk/2+7)), Severity: "info", Interval: time.Hour})
	}
	res := must(s.ClaimCooldowns(ctx, claims, now))
	want := []CooldownResult{{true, now}, {false, t0}, {true, now}, {false, now}, {true, now}}
	if !reflect.DeepEqual(res[:5], want) {
		t.Fatalf("results %+v, want %+v", res[:5], want)
	}
	first := map[string]bool{}
	for i, c := range claims[5:] {
		if r := res[5+i]; r.Allowed == first[c.Key] || !r.Last.Equal(now) {
			t.Fatalf("%s (claim %d): %+v; allowed only the first time", c.Key, i, r)
		}
		first[c.Key] = true
	}
	_, err := s.ClaimCooldowns(ctx, []CooldownClaim{{Key: "x"}, {Key: ""}}, now)
	wantErr(t, err, ErrInvalid)
}

// testCooldownConcurrent is the reason a claim is one statement: two
// receivers (two Stores on one database) and 8 goroutines claim the same
// key at the same instant, and exactly one may notify.
func testCooldownConcurrent(t *testing.T, newDB backend) {
	o := newDB(t)
	stores := []*Store{openStore(t, o), openStore(t, o)}
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	for round := range 10 {
		key := fmt.Sprint("race/", round)
		// Round 0 races on a new key (insert), the others on an existing
		// key whose cooldown has just run out (update).
		now := t0
		if round > 0 {
			claim(t, stores[0], key, "warning", time.Hour, t0)
			now = t0.Add(time.Hour)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for i := range 8 {
			wg.Go(func() {
				ok, last, err := claimOne(stores[i%2], key, "warning", time.Hour, now)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Error(err)
				case ok:
					allowed++
				case !last.Equal(now):
					t.Errorf("suppressed claim reports last %v, want %v", last, now)
				}
			})
		}
		wg.Wait()
		if allowed != 1 {
			t.Fatalf("round %d: %d of 8 concurrent claims allowed, want 1", round, allowed)
		}
	}
}

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
	a := must(v1.UpsertAlert(ctx, alert("from-v1", "critical", "budget")))
	ch := newChannel(t, v1, "old")
	enqueue(t, v1, ch.ID, "old-item", time.Time{})
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
	if ok, _ := claim(t, s, "k", "info", time.Hour, time.Now()); !ok {
		t.Fatal("first cooldown claim after upgrade refused")
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
	_, checks["expire_silence"] = s.ExpireSilence(ctx, sil.ID, now)
	_, checks["prune_silences"] = s.PruneSilences(ctx, now)
	_, _, checks["claim_cooldown"] = claimOne(s, "k", "info", time.Hour, now)
	checks["release_cooldown"] = s.ReleaseCooldown(ctx, "k")
	_, checks["prune_cooldowns"] = s.PruneCooldowns(ctx, now)
	_, _, _, _, checks["outbox_stats"] = s.OutboxStats(ctx)
	_, _, checks["outbox_list"] = s.ListOutbox(ctx, OutboxFilter{})
	for name, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", name, err)
		}
	}
}
