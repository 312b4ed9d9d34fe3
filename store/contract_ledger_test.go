package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// The notification ledger, the outbox's per-group order and the step
// ledger: part of runContract.

var t0Ledger = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

func note(fp string, episode time.Time, transition string, channel int64, reason string) Notification {
	n := Notification{Fingerprint: fp, Episode: episode, Transition: transition, ChannelID: channel,
		Receiver: "ops", GroupKey: "{}:{alertname=\"A\"}", Reason: reason, Peer: "test:1"}
	if reason != "" {
		n.Status = HistorySuppressed
	}
	return n
}

// claimN claims ns in one transaction and returns the claims it made.
func claimN(t *testing.T, s *Store, ns ...Notification) []Notification {
	t.Helper()
	var made []Notification
	if err := s.InLedger(ctx, time.Now(), func(tx *LedgerTx) (err error) {
		made, err = tx.Claim(ns)
		return err
	}); err != nil {
		t.Fatalf("claim: %v", err)
	}
	return made
}

// claimAndEnqueue claims ns and puts the pending ones in one outbox item
// for channel ch.
func claimAndEnqueue(t *testing.T, s *Store, ch int64, ns ...Notification) (OutboxItem, []Notification) {
	t.Helper()
	var item OutboxItem
	var made []Notification
	err := s.InLedger(ctx, time.Now(), func(tx *LedgerTx) (err error) {
		if made, err = tx.Claim(ns); err != nil {
			return err
		}
		var ids []int64
		for _, n := range made {
			if n.Status == NotificationPending {
				ids = append(ids, n.ID)
			}
		}
		item, err = tx.Enqueue(OutboxItem{ChannelID: ch, GroupKey: "g", Payload: json.RawMessage(`{"alerts":[]}`)}, ids)
		return err
	})
	if err != nil {
		t.Fatalf("claim and enqueue: %v", err)
	}
	return item, made
}

func historyOf(t *testing.T, s *Store, f HistoryFilter) []HistoryEntry {
	t.Helper()
	f.Limit = 1000
	items, _, err := s.ListHistory(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// A claim is made once; a suppressed one is final with its history entry
// at once; a pending one gets its entry, exactly one, when its outbox item
// has an outcome, linked to the alert.
func testLedgerClaimAndOutcomes(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	a := must(s.UpsertAlert(ctx, alert("fp-a", "warning", "budget")))
	firing := note("fp-a", t0Ledger, TransitionFiring, ch.ID, "")
	item, made := claimAndEnqueue(t, s, ch.ID, firing, note("fp-b", t0Ledger, TransitionFiring, ch.ID, "silenced by s-1"))
	if len(made) != 2 || made[0].ID == 0 || made[1].Status != HistorySuppressed {
		t.Fatalf("made %+v", made)
	}
	if again := claimN(t, s, firing); len(again) != 0 {
		t.Fatalf("the same state change claimed twice: %+v", again)
	}
	if h := historyOf(t, s, HistoryFilter{}); len(h) != 1 || h[0].Fingerprint != "fp-b" || h[0].Status != HistorySuppressed ||
		h[0].Error != "silenced by s-1" || h[0].Transition != TransitionFiring || !h[0].Episode.Equal(t0Ledger) || h[0].AlertID != 0 {
		t.Fatalf("history after the claims: %+v", h)
	}
	if n := must(s.PendingNotifications(ctx)); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}

	// A retried attempt writes no history; the outcome writes one entry.
	must(s.ClaimDue(ctx, time.Now(), 10))
	must(0, s.MarkFailed(ctx, item.ID, "503", time.Now().Add(-time.Second)))
	if h := historyOf(t, s, HistoryFilter{Fingerprint: "fp-a"}); len(h) != 0 {
		t.Fatalf("a retry recorded %+v", h)
	}
	must(s.ClaimDue(ctx, time.Now(), 10))
	must(0, s.MarkSent(ctx, item.ID))
	h := historyOf(t, s, HistoryFilter{AlertID: a.ID})
	if len(h) != 1 || h[0].Status != HistorySent || h[0].OutboxID != item.ID || h[0].Attempt != 2 || h[0].AlertID != a.ID ||
		h[0].Peer != "test:1" || h[0].ChannelID != ch.ID {
		t.Fatalf("sent entry: %+v", h)
	}
	var payload map[string]any
	if err := json.Unmarshal(h[0].Payload, &payload); err != nil || payload["transition"] != "firing" || payload["fingerprint"] != "fp-a" {
		t.Fatalf("payload %s (%v)", h[0].Payload, err)
	}
	if n := must(s.PendingNotifications(ctx)); n != 0 {
		t.Fatalf("%d pending after the outcome", n)
	}

	// Given up: failed, with the error. Disabled: suppressed.
	for _, c := range []struct {
		fp, status, reason string
		finish             func(id int64) error
	}{
		{"fp-c", HistoryFailed, "400 bad request", func(id int64) error { return s.MarkFailed(ctx, id, "400 bad request", time.Time{}) }},
		{"fp-d", HistorySuppressed, "channel disabled", func(id int64) error { return s.MarkSuppressed(ctx, id, "channel disabled") }},
	} {
		item, _ := claimAndEnqueue(t, s, ch.ID, note(c.fp, t0Ledger, TransitionResolved, ch.ID, ""))
		must(s.ClaimDue(ctx, time.Now(), 10))
		must(0, c.finish(item.ID))
		if h := historyOf(t, s, HistoryFilter{Fingerprint: c.fp}); len(h) != 1 || h[0].Status != c.status || h[0].Error != c.reason ||
			h[0].Transition != TransitionResolved {
			t.Fatalf("%s: %+v", c.fp, h)
		}
	}
	// An outbox item must carry a claim.
	err := s.InLedger(ctx, time.Now(), func(tx *LedgerTx) error {
		_, err := tx.Enqueue(OutboxItem{ChannelID: ch.ID, Payload: json.RawMessage(`{}`)}, nil)
		return err
	})
	if err == nil {
		t.Fatal("an outbox item without claims was written")
	}
}

// Two receivers (two Stores on one database) and 8 goroutines claim the
// same state changes at the same instant: each is made exactly once.
func testLedgerConcurrentClaims(t *testing.T, newDB backend) {
	o := newDB(t)
	stores := []*Store{openStore(t, o), openStore(t, o)}
	ch := newChannel(t, stores[0], "hook")
	for round := range 5 {
		var ns []Notification
		for i := range 20 {
			ns = append(ns, note(fmt.Sprintf("fp-%d-%02d", round, i), t0Ledger, TransitionFiring, ch.ID, ""))
		}
		var mu sync.Mutex
		made := map[string]int{}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				mine := slices.Clone(ns)
				if g%2 == 1 {
					slices.Reverse(mine) // another order: the store must not deadlock
				}
				var got []Notification
				err := stores[g%2].InLedger(ctx, time.Now(), func(tx *LedgerTx) (err error) {
					got, err = tx.Claim(mine)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, n := range got {
					made[n.Fingerprint]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, n := range ns {
			if made[n.Fingerprint] != 1 {
				t.Fatalf("round %d: %s made %d times", round, n.Fingerprint, made[n.Fingerprint])
			}
		}
	}
}

// Firings returns an alert's firing claims made since a time, and those of
// the episodes asked for however old.
func testLedgerFirings(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	old, cur := t0Ledger, t0Ledger.Add(time.Hour)
	claimN(t, s, note("f", old, TransitionFiring, ch.ID, ""), note("f", old, TransitionResolved, ch.ID, ""),
		note("f", cur, TransitionFiring, ch.ID, "cooldown: x"), note("other", cur, TransitionFiring, ch.ID, ""))
	var recent, withEpisode []Notification
	must(0, s.InLedger(ctx, time.Now(), func(tx *LedgerTx) (err error) {
		if recent, err = tx.Firings([]string{"f"}, time.Now().Add(-time.Minute), nil); err != nil {
			return err
		}
		withEpisode, err = tx.Firings([]string{"f"}, time.Now().Add(time.Minute), []time.Time{old})
		return err
	}))
	if len(recent) != 2 || recent[0].Episode != old || recent[1].Reason != "cooldown: x" {
		t.Fatalf("recent firings: %+v", recent)
	}
	if len(withEpisode) != 1 || !withEpisode[0].Episode.Equal(old) || withEpisode[0].Status != NotificationPending {
		t.Fatalf("by episode: %+v", withEpisode)
	}
}

// OpenAlerts is what a restart rebuilds from: firing rows, resolved rows
// whose resolution nobody decided, and episodes notified as firing whose
// resolution is unclaimed on a channel.
func testLedgerOpenAlerts(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := func(fp string, starts time.Time, resolved bool) {
		a := alert(fp, "warning", "budget")
		a.StartsAt, a.Annotations, a.GeneratorURL = starts, map[string]string{"summary": fp}, "http://g/"+fp
		if resolved {
			a.Status, a.ResolvedAt = StatusResolved, now
		} else {
			a.ExpiresAt = now.Add(time.Hour)
		}
		must(s.UpsertAlert(ctx, a))
	}
	e1, e2 := now.Add(-time.Hour), now.Add(-time.Minute)
	row("firing", e2, false)
	row("resolved-undecided", e2, true)
	row("resolved-decided", e2, true)
	claimN(t, s, note("resolved-decided", e2, TransitionResolved, ch.ID, ""))
	// Notified firing at e1, then re-fired at e2: e1's resolution is owed.
	row("refired", e2, false)
	claimN(t, s, note("refired", e1, TransitionFiring, ch.ID, ""))
	// Resolved and its resolution claimed on one channel only.
	row("half", e1, true)
	ch2 := newChannel(t, s, "hook2")
	claimN(t, s, note("half", e1, TransitionFiring, ch.ID, ""), note("half", e1, TransitionFiring, ch2.ID, ""),
		note("half", e1, TransitionResolved, ch.ID, ""))
	must(s.UpsertAlert(ctx, alert("legacy", "warning", "budget"))) // no starts_at: before the ledger

	open := must(s.OpenAlerts(ctx, time.Time{}, nil))
	got := map[string]OpenAlert{}
	for _, o := range open {
		got[o.Fingerprint] = o
	}
	want := []string{"firing", "half", "refired", "resolved-undecided"}
	if keys := slices.Sorted(mapsKeys(got)); fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("open alerts %v, want %v", keys, want)
	}
	if f := got["firing"]; !f.StartsAt.Equal(e2) || f.Annotations["summary"] != "firing" || f.GeneratorURL != "http://g/firing" || len(f.Episodes) != 0 {
		t.Fatalf("firing: %+v", f)
	}
	if r := got["refired"]; len(r.Episodes) != 1 || !r.Episodes[0].Equal(e1) {
		t.Fatalf("refired: %+v", r)
	}
	// Of held alerts, only what the dispatcher lacks: the start and the
	// other episodes, not the labels and annotations.
	held := func(fp string) bool { return fp == "refired" || fp == "firing" }
	lean := map[string]OpenAlert{}
	for _, o := range must(s.OpenAlerts(ctx, time.Time{}, held)) {
		lean[o.Fingerprint] = o
	}
	if len(lean) != len(want) {
		t.Fatalf("with held alerts: %d open, want %d", len(lean), len(want))
	}
	if r := lean["refired"]; r.Labels != nil || r.Annotations != nil || !r.StartsAt.Equal(e2) || len(r.Episodes) != 1 || !r.Episodes[0].Equal(e1) {
		t.Fatalf("a held alert read: %+v", r)
	}
	if h := lean["half"]; h.Annotations["summary"] != "half" {
		t.Fatalf("an alert not held read without its annotations: %+v", h)
	}
	if since := must(s.OpenAlerts(ctx, now.Add(time.Hour), nil)); len(since) != 0 {
		t.Fatalf("nothing updated since: %+v", since)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// PruneLedger deletes closed episodes and repeats decided before the cut,
// never the firing of an open episode nor anything pending.
func testLedgerPrune(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch := newChannel(t, s, "hook")
	claimN(t, s,
		note("closed", t0Ledger, TransitionFiring, ch.ID, "x"), note("closed", t0Ledger, TransitionResolved, ch.ID, "x"),
		note("open", t0Ledger, TransitionFiring, ch.ID, "x"),
		note("rep", t0Ledger, TransitionRepeat, ch.ID, "x"),
		note("pending", t0Ledger, TransitionFiring, ch.ID, ""), note("pending", t0Ledger, TransitionResolved, ch.ID, "x"))
	if n := must(s.PruneLedger(ctx, time.Now().Add(-time.Hour))); n != 0 {
		t.Fatalf("pruned %d claims newer than the cut", n)
	}
	if n := must(s.PruneLedger(ctx, time.Now().Add(time.Hour))); n != 3 {
		t.Fatalf("pruned %d, want the closed episode's two and the repeat", n)
	}
	left, _, err := s.ListNotifications(ctx, LedgerFilter{})
	if err != nil || len(left) != 3 {
		t.Fatalf("left %+v (%v)", left, err)
	}
}

// A channel gets one group's items in order: the next waits while an
// older one is pending or being sent; other groups and channels do not.
func testOutboxGroupOrder(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	ch1, ch2 := newChannel(t, s, "one"), newChannel(t, s, "two")
	add := func(ch int64, group, key string, due time.Time) OutboxItem {
		return must3(s.Enqueue(ctx, OutboxItem{ChannelID: ch, GroupKey: group, IdempotencyKey: key,
			Payload: json.RawMessage(`{}`), NextAttemptAt: due}))
	}
	now := time.Now().UTC()
	first := add(ch1.ID, "g", "first", now.Add(time.Minute)) // retried: due later
	second := add(ch1.ID, "g", "second", now.Add(-time.Minute))
	other := add(ch1.ID, "h", "other", now)
	elsewhere := add(ch2.ID, "g", "elsewhere", now)
	ids := func(items []OutboxItem) []int64 {
		out := []int64{}
		for _, it := range items {
			out = append(out, it.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(must(s.ClaimDue(ctx, now.Add(time.Second), 10))); fmt.Sprint(got) != fmt.Sprint([]int64{other.ID, elsewhere.ID}) {
		t.Fatalf("claimed %v: the second of group g on channel one overtook the first", got)
	}
	if got := must(s.ClaimDue(ctx, now.Add(2*time.Minute), 10)); len(got) != 1 || got[0].ID != first.ID {
		t.Fatalf("claimed %+v, want the first alone", got)
	}
	if got := must(s.ClaimDue(ctx, now.Add(2*time.Minute), 10)); len(got) != 0 {
		t.Fatalf("claimed %+v while the first is being sent", got)
	}
	must(0, s.MarkSent(ctx, first.ID))
	if got := must(s.ClaimDue(ctx, now.Add(2*time.Minute), 10)); len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("claimed %+v, want the second once the first is done", got)
	}
}

func must3[T any](v T, _ bool, err error) T { return must(v, err) }

// Finding 8 of issue 14: two receivers upserting the same alerts in other
// orders deadlocked on PostgreSQL. The store writes a batch in
// fingerprint order (and runs a transaction PostgreSQL aborted again).
func testUpsertOverlappingConcurrently(t *testing.T, newDB backend) {
	o := newDB(t)
	stores := []*Store{openStore(t, o), openStore(t, o)}
	var batch []Alert
	for i := range 200 {
		batch = append(batch, alert(fmt.Sprintf("fp-%03d", i), "warning", "budget"))
	}
	for round := range 5 {
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				mine := slices.Clone(batch)
				if g%2 == 1 {
					slices.Reverse(mine)
				}
				for i := range mine {
					mine[i].Message = fmt.Sprint("round ", round, " writer ", g)
				}
				if err := stores[g%2].UpsertAlerts(ctx, mine); err != nil {
					t.Errorf("round %d writer %d: %v", round, g, err)
				}
			})
		}
		wg.Wait()
	}
}

// The step ledger: a period's steps are announced once, with their alert
// rows, and a new period starts over.
func testStepLedger(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	p1, p2 := t0Ledger, t0Ledger.Add(30*24*time.Hour)
	must(0, s.StartStepPeriod(ctx, "g;Budget;0", "t1", "monthly", p1))
	at := t0Ledger.Add(time.Hour)
	row := func(fp string) map[float64]Alert {
		a := alert(fp, "warning", "budget")
		a.StartsAt = at
		return map[float64]Alert{0.5: a}
	}
	got := must(s.AnnounceSteps(ctx, "g;Budget;0", "t1", p1, at, row("step-0.5")))
	if !got[0.5].Equal(at) {
		t.Fatalf("announced %v", got)
	}
	later := at.Add(time.Minute)
	got = must(s.AnnounceSteps(ctx, "g;Budget;0", "t1", p1, later, row("step-0.5-again")))
	if !got[0.5].Equal(at) {
		t.Fatalf("a step announced twice: %v", got)
	}
	if _, n := list(t, s, AlertFilter{}); n != 1 {
		t.Fatalf("%d alert rows, want the first announcement's only", n)
	}
	recs := must(s.StepRecords(ctx, "g;Budget;0"))
	if r := recs["t1"]; r.Period != "monthly" || !r.StartedAt.Equal(p1) || len(r.Announced) != 1 || !r.Announced[0.5].Equal(at) {
		t.Fatalf("records %+v", recs)
	}
	must(0, s.StartStepPeriod(ctx, "g;Budget;0", "t1", "monthly", p2))
	if r := must(s.StepRecords(ctx, "g;Budget;0"))["t1"]; !r.StartedAt.Equal(p2) || len(r.Announced) != 0 {
		t.Fatalf("a new period keeps the old steps: %+v", r)
	}
	if got := must(s.AnnounceSteps(ctx, "g;Budget;0", "t1", p2, later, row("step-0.5-p2"))); !got[0.5].Equal(later) {
		t.Fatalf("the new period's step: %v", got)
	}
}
