package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// runContract is the one behavioural suite both backends must pass. Every
// subtest gets a fresh, empty database from newDB.
func runContract(t *testing.T, newDB backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newDB backend)
	}{
		{"MigrationsIdempotent", testMigrationsIdempotent},
		{"ConcurrentOpen", testConcurrentOpen},
		{"UpsertByFingerprint", testUpsertByFingerprint},
		{"UpsertLifecycle", testUpsertLifecycle},
		{"UpsertBatch", testUpsertBatch},
		{"ListFiltersPaging", testListFiltersPaging},
		{"Stats", testStats},
		{"Transitions", testTransitions},
		{"ConcurrentAcks", testConcurrentAcks},
		{"AckRacingResolve", testAckRacingResolve},
		{"Expiry", testExpiry},
		{"OutboxLifecycle", testOutboxLifecycle},
		{"OutboxClaimExclusive", testOutboxClaimExclusive},
		{"History", testHistory},
		{"Overrides", testOverrides},
		{"ThrottleAudit", testThrottleAudit},
		{"Channels", testChannels},
		{"SQLLookingInputIsData", testSQLLookingInput},
		{"ClosedIsUnavailable", testClosedUnavailable},
		{"SilenceLifecycle", testSilenceLifecycle},
		{"SilenceListOrder", testSilenceListOrder},
		{"SilenceValidation", testSilenceValidation},
		{"LedgerClaimAndOutcomes", testLedgerClaimAndOutcomes},
		{"LedgerConcurrentClaims", testLedgerConcurrentClaims},
		{"LedgerFirings", testLedgerFirings},
		{"LedgerOpenAlerts", testLedgerOpenAlerts},
		{"LedgerPrune", testLedgerPrune},
		{"OutboxGroupOrder", testOutboxGroupOrder},
		{"UpsertOverlappingBatchesConcurrently", testUpsertOverlappingConcurrently},
		{"StepLedger", testStepLedger},
		{"Peers", testPeers},
		{"OutboxStatsList", testOutboxStatsList},
		{"MigrateFromV1", testMigrateFromV1},
		{"ReceiverClosed", testReceiverClosed},
		{"ThrottleLifecycle", testThrottleLifecycle},
		{"ThrottleConcurrentCreate", testThrottleConcurrentCreate},
		{"ThrottleFeedback", testThrottleFeedback},
		{"ThrottlePolicy", testThrottlePolicy},
		{"ThrottleAutomation", testThrottleAutomation},
		{"ThrottleValidation", testThrottleValidation},
		{"MigrateFromV2", testMigrateFromV2},
		{"MigrateFromV3", testMigrateFromV3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if r := recover(); r != nil {
					if me, ok := r.(mustErr); ok {
						t.Fatal(me.err)
					}
					panic(r)
				}
			}()
			tc.fn(t, newDB)
		})
	}
}

var ctx = context.Background()

func alert(fp, severity, typ string) Alert {
	return Alert{Fingerprint: fp, Severity: severity, Type: typ, Title: "title " + fp,
		Labels: map[string]string{"alertname": typ, "fp": fp}}
}

// must keeps the suite readable: Go cannot pass a call's two results after
// t, so a failure panics and runContract turns it into t.Fatal with the
// caller's line.
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(mustErr{fmt.Errorf("%s:%d: %w", filepath.Base(file), line, err)})
	}
	return v
}

type mustErr struct{ err error }

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func testMigrationsIdempotent(t *testing.T, newDB backend) {
	o := newDB(t)
	s1 := openStore(t, o)
	a := must(s1.UpsertAlert(ctx, alert("fp1", "critical", "budget")))
	s1.Close()
	s2 := openStore(t, o)
	v := must(s2.SchemaVersion(ctx))
	ms, _ := loadMigrations(s2.d)
	if v != ms[len(ms)-1].version {
		t.Fatalf("schema version %d, want %d", v, ms[len(ms)-1].version)
	}
	var n int
	if err := s2.r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations rows %d (%v), want %d", n, err, len(ms))
	}
	if got := must(s2.GetAlert(ctx, a.ID)); got.Fingerprint != "fp1" {
		t.Fatalf("data lost across reopen: %+v", got)
	}
}

func testConcurrentOpen(t *testing.T, newDB backend) {
	o := newDB(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, _ := loadMigrations(stores[0].d)
	rows, err := stores[0].r.Query("SELECT version, COUNT(*) FROM schema_migrations GROUP BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("migration %d recorded %d times", v, n)
		}
		seen++
	}
	if seen != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", seen, len(ms))
	}
}

func testUpsertByFingerprint(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	a := alert("fp-x", "warning", "latency")
	a.Metadata = `{"value":1.5}`
	a.ExpiresAt = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	first := must(s.UpsertAlert(ctx, a))
	if first.ID == 0 || first.Status != StatusActive || first.CreatedAt.IsZero() || first.CreatedAt.Location() != time.UTC {
		t.Fatalf("bad insert result %+v", first)
	}
	if !first.ExpiresAt.Equal(a.ExpiresAt) || first.Metadata != `{"value":1.5}` || first.Labels["fp"] != "fp-x" {
		t.Fatalf("round trip mismatch: %+v", first)
	}
	a.Title, a.Severity = "changed", "critical"
	second := must(s.UpsertAlert(ctx, a))
	if second.ID != first.ID || second.Title != "changed" || second.Severity != "critical" || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("update by fingerprint: %+v vs %+v", second, first)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			b := alert("fp-race", "info", "nodata")
			b.Message = fmt.Sprint("writer ", i)
			if _, err := s.UpsertAlert(ctx, b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	_, total := list(t, s, AlertFilter{Type: "nodata"})
	if total != 1 {
		t.Fatalf("8 concurrent upserts of one fingerprint left %d rows", total)
	}
	if _, err := s.UpsertAlert(ctx, Alert{Fingerprint: "bad", Status: StatusAcknowledged}); err == nil {
		t.Fatal("upsert with status acknowledged accepted")
	}
}

func list(t *testing.T, s *Store, f AlertFilter) ([]Alert, int) {
	t.Helper()
	items, total, err := s.ListAlerts(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return items, total
}

func testUpsertLifecycle(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	a := alert("fp-l", "warning", "error_rate")
	up := func(status, severity string) Alert {
		t.Helper()
		b := a
		b.Status, b.Severity = status, severity
		return must(s.UpsertAlert(ctx, b))
	}
	x := up(StatusActive, "warning")
	must(s.AckAlert(ctx, x.ID, "ops"))
	if got := up(StatusActive, "warning"); got.Status != StatusAcknowledged || got.AckedBy != "ops" {
		t.Fatalf("re-fire with same severity lost the ack: %+v", got)
	}
	if got := up(StatusActive, "critical"); got.Status != StatusActive || got.AckedBy != "" || !got.AckedAt.IsZero() {
		t.Fatalf("severity change did not reopen: %+v", got)
	}
	got := up(StatusResolved, "critical")
	if got.Status != StatusResolved || got.ResolvedAt.IsZero() {
		t.Fatalf("resolved upsert: %+v", got)
	}
	if again := up(StatusResolved, "critical"); !again.ResolvedAt.Equal(got.ResolvedAt) {
		t.Fatalf("repeated resolve moved resolved_at: %v -> %v", got.ResolvedAt, again.ResolvedAt)
	}
	if got := up(StatusActive, "critical"); got.Status != StatusActive || !got.ResolvedAt.IsZero() {
		t.Fatalf("re-fire after resolve: %+v", got)
	}
	// Dismissed while firing: further firing keeps it hidden.
	must(s.DismissAlert(ctx, x.ID))
	if got := up(StatusActive, "info"); got.Status != StatusDismissed || got.Severity != "info" {
		t.Fatalf("firing resurrected a dismissed alert: %+v", got)
	}
	// It ends while dismissed (still hidden), then re-fires: visible again.
	if got := up(StatusResolved, "info"); got.Status != StatusDismissed || got.ResolvedAt.IsZero() {
		t.Fatalf("resolve of a dismissed alert: %+v", got)
	}
	if got := up(StatusActive, "info"); got.Status != StatusActive || !got.ResolvedAt.IsZero() {
		t.Fatalf("re-fire after resolve of a dismissed alert stayed hidden: %+v", got)
	}
	// A first sighting that is already resolved is stored as resolved.
	r := alert("fp-r", "info", "quota")
	r.Status = StatusResolved
	if got := must(s.UpsertAlert(ctx, r)); got.Status != StatusResolved || got.ResolvedAt.IsZero() {
		t.Fatalf("new resolved alert: %+v", got)
	}
}

func testUpsertBatch(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	var batch []Alert
	for i := range 200 {
		batch = append(batch, alert(fmt.Sprint("b", i%150), "info", "traffic_spike"))
	}
	if err := s.UpsertAlerts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, total := list(t, s, AlertFilter{}); total != 150 {
		t.Fatalf("batch stored %d alerts, want 150", total)
	}
	// All or nothing: a bad alert rolls back the whole batch.
	bad := []Alert{alert("ok-1", "info", "x"), {Fingerprint: ""}}
	if err := s.UpsertAlerts(ctx, bad); err == nil {
		t.Fatal("batch with an invalid alert accepted")
	}
	if _, total := list(t, s, AlertFilter{Type: "x"}); total != 0 {
		t.Fatal("failed batch was partly committed")
	}
}

// seedMixed stores 30 alerts: severities cycle critical/warning/info, types
// alternate budget/latency; ids 0-4 acked, 5-9 resolved, 10-11 dismissed.
func seedMixed(t *testing.T, s *Store) []Alert {
	sev := []string{"critical", "warning", "info"}
	typ := []string{"budget", "latency"}
	var out []Alert
	for i := range 30 {
		out = append(out, must(s.UpsertAlert(ctx, alert(fmt.Sprintf("m%02d", i), sev[i%3], typ[i%2]))))
	}
	for i := range 12 {
		switch {
		case i < 5:
			must(s.AckAlert(ctx, out[i].ID, "a"))
		case i < 10:
			must(s.ResolveAlert(ctx, out[i].ID))
		default:
			must(s.DismissAlert(ctx, out[i].ID))
		}
	}
	return out
}

func testListFiltersPaging(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	seedMixed(t, s)
	cases := []struct {
		f    AlertFilter
		want int
	}{
		{AlertFilter{}, 28},
		{AlertFilter{IncludeDismissed: true}, 30},
		{AlertFilter{Status: StatusDismissed}, 2},
		{AlertFilter{Status: StatusActive}, 18},
		{AlertFilter{Status: StatusAcknowledged}, 5},
		{AlertFilter{Severity: "critical"}, 10}, // the dismissed ones are warning and info
		{AlertFilter{Type: "budget", Severity: "critical"}, 5},
		{AlertFilter{Status: StatusActive, Type: "latency"}, 9},
	}
	for _, c := range cases {
		if _, total := list(t, s, c.f); total != c.want {
			t.Errorf("%+v: total %d, want %d", c.f, total, c.want)
		}
	}
	seen := map[int64]bool{}
	var prev *Alert
	for off := 0; off < 28; off += 10 {
		items, total := list(t, s, AlertFilter{Limit: 10, Offset: off})
		if total != 28 || len(items) != min(10, 28-off) {
			t.Fatalf("page at %d: %d items of %d", off, len(items), total)
		}
		for i := range items {
			if seen[items[i].ID] {
				t.Fatalf("alert %d on two pages", items[i].ID)
			}
			seen[items[i].ID] = true
			if prev != nil && (items[i].CreatedAt.After(prev.CreatedAt) ||
				(items[i].CreatedAt.Equal(prev.CreatedAt) && items[i].ID > prev.ID)) {
				t.Fatalf("not newest first: %d after %d", items[i].ID, prev.ID)
			}
			prev = &items[i]
		}
	}
	if items, total := list(t, s, AlertFilter{Offset: 100}); len(items) != 0 || total != 28 {
		t.Fatalf("offset past the end: %d items, total %d", len(items), total)
	}
}

func testStats(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	if st := must(s.AlertStats(ctx)); st != (AlertStats{}) {
		t.Fatalf("empty store stats %+v", st)
	}
	seedMixed(t, s)
	// Active: m12..m29 → severities by i%3 over 12..29: 6 each. Total
	// counts the two dismissed alerts too, as ez-api's COUNT(*) does.
	want := AlertStats{Total: 30, Active: 18, Acknowledged: 5, Resolved: 5, Critical: 6, Warning: 6, Info: 6}
	if st := must(s.AlertStats(ctx)); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func testTransitions(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	a := must(s.UpsertAlert(ctx, alert("t1", "warning", "budget")))
	acked := must(s.AckAlert(ctx, a.ID, "alice"))
	if acked.Status != StatusAcknowledged || acked.AckedBy != "alice" || acked.AckedAt.IsZero() {
		t.Fatalf("ack: %+v", acked)
	}
	_, err := s.AckAlert(ctx, a.ID, "bob")
	wantErr(t, err, ErrConflict)
	res := must(s.ResolveAlert(ctx, a.ID))
	if res.Status != StatusResolved || res.ResolvedAt.IsZero() || res.AckedBy != "alice" {
		t.Fatalf("resolve: %+v", res)
	}
	_, err = s.ResolveAlert(ctx, a.ID)
	wantErr(t, err, ErrConflict)
	_, err = s.AckAlert(ctx, a.ID, "bob")
	wantErr(t, err, ErrConflict)
	if d := must(s.DismissAlert(ctx, a.ID)); d.Status != StatusDismissed {
		t.Fatalf("dismiss: %+v", d)
	}
	_, err = s.DismissAlert(ctx, a.ID)
	wantErr(t, err, ErrConflict)
	_, err = s.ResolveAlert(ctx, a.ID)
	wantErr(t, err, ErrConflict)
	for _, f := range []func(int64) error{
		func(id int64) error { _, err := s.AckAlert(ctx, id, "x"); return err },
		func(id int64) error { _, err := s.ResolveAlert(ctx, id); return err },
		func(id int64) error { _, err := s.DismissAlert(ctx, id); return err },
		func(id int64) error { _, err := s.GetAlert(ctx, id); return err },
	} {
		wantErr(t, f(987654), ErrNotFound)
	}
}

func testConcurrentAcks(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	a := must(s.UpsertAlert(ctx, alert("ca", "critical", "budget")))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for i := range 8 {
		wg.Go(func() {
			who := fmt.Sprint("user", i)
			_, err := s.AckAlert(ctx, a.ID, who)
			if err == nil {
				mu.Lock()
				winners = append(winners, who)
				mu.Unlock()
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := must(s.GetAlert(ctx, a.ID))
	if len(winners) != 1 || got.AckedBy != winners[0] {
		t.Fatalf("winners %v, stored acked_by %q", winners, got.AckedBy)
	}
}

func testAckRacingResolve(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	for i := range 20 {
		a := must(s.UpsertAlert(ctx, alert(fmt.Sprint("race", i), "critical", "budget")))
		var ackErr, resErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, ackErr = s.AckAlert(ctx, a.ID, "ops") })
		wg.Go(func() { _, resErr = s.ResolveAlert(ctx, a.ID) })
		wg.Wait()
		if resErr != nil {
			t.Fatalf("resolve must win from active or acknowledged: %v", resErr)
		}
		if ackErr != nil && !errors.Is(ackErr, ErrConflict) {
			t.Fatal(ackErr)
		}
		got := must(s.GetAlert(ctx, a.ID))
		// Either order is fine; what must hold is that the stored row
		// agrees with what the callers were told.
		if got.Status != StatusResolved || (ackErr == nil) != (got.AckedBy == "ops") {
			t.Fatalf("inconsistent: ackErr=%v stored=%+v", ackErr, got)
		}
	}
}

func testExpiry(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	now := time.Now().UTC()
	mk := func(fp string, exp time.Time) Alert {
		a := alert(fp, "info", "quota")
		a.ExpiresAt = exp
		return must(s.UpsertAlert(ctx, a))
	}
	old := mk("e-old", now.Add(-time.Minute))
	acked := mk("e-acked", now.Add(-time.Second))
	must(s.AckAlert(ctx, acked.ID, "x"))
	future := mk("e-future", now.Add(time.Hour))
	never := mk("e-never", time.Time{})
	if n := must(s.ExpireAlerts(ctx, now)); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	for _, c := range []struct {
		a    Alert
		want string
	}{{old, StatusResolved}, {acked, StatusResolved}, {future, StatusActive}, {never, StatusActive}} {
		if got := must(s.GetAlert(ctx, c.a.ID)); got.Status != c.want {
			t.Errorf("%s: status %s, want %s", c.a.Fingerprint, got.Status, c.want)
		}
	}
	if got := must(s.GetAlert(ctx, old.ID)); !got.ResolvedAt.Equal(old.ExpiresAt) {
		t.Errorf("resolved_at %v, want expires_at %v", got.ResolvedAt, old.ExpiresAt)
	}
	if n := must(s.ExpireAlerts(ctx, now)); n != 0 {
		t.Fatalf("second expiry pass changed %d", n)
	}
}
