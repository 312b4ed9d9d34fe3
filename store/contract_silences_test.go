package store

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

// Silences: part of runContract.

var silenceBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func cpuMatchers() []SilenceMatcher {
	return []SilenceMatcher{
		{Name: "alertname", Value: "cpu_anomaly", IsEqual: true},
		{Name: "tenant_id", Value: "t1|t2", IsRegex: true, IsEqual: true},
		{Name: "instance_id", Value: "i9", IsEqual: false},
	}
}

func newSilence(t *testing.T, s *Store, start, end time.Time) Silence {
	return must(s.CreateSilence(ctx, Silence{Matchers: cpuMatchers(), StartsAt: start, EndsAt: end,
		CreatedBy: "alice", Comment: "maintenance"}))
}

func silenceIDs(t *testing.T, s *Store, f SilenceFilter) []string {
	t.Helper()
	items, err := s.ListSilences(ctx, f)
	if err != nil {
		t.Fatalf("ListSilences(%+v): %v", f, err)
	}
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func testSilenceLifecycle(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	end := silenceBase.Add(time.Hour)
	sil := newSilence(t, s, silenceBase, end)
	if !uuidV4.MatchString(sil.ID) || sil.CreatedAt.IsZero() || !sil.UpdatedAt.Equal(sil.CreatedAt) {
		t.Fatalf("create: %+v", sil)
	}
	if !reflect.DeepEqual(sil.Matchers, cpuMatchers()) || !sil.StartsAt.Equal(silenceBase) || !sil.EndsAt.Equal(end) ||
		sil.CreatedBy != "alice" || sil.Comment != "maintenance" {
		t.Fatalf("create did not round trip: %+v", sil)
	}
	if got := must(s.GetSilence(ctx, sil.ID)); !reflect.DeepEqual(got, sil) {
		t.Fatalf("get: %+v, want %+v", got, sil)
	}
	if other := newSilence(t, s, silenceBase, end); other.ID == sil.ID {
		t.Fatal("two silences got one id")
	} else {
		must(s.ExpireSilence(ctx, other.ID, silenceBase.Add(-time.Hour), "test")) // out of the way
	}

	// State and the list's state filter agree at every boundary, including
	// a now that is not a whole microsecond.
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{silenceBase.Add(-time.Microsecond), SilenceStatePending},
		{silenceBase.Add(-time.Nanosecond), SilenceStatePending},
		{silenceBase, SilenceStateActive},
		{end.Add(-time.Nanosecond), SilenceStateActive},
		{end, SilenceStateExpired},
		{end.Add(time.Nanosecond), SilenceStateExpired},
	} {
		if got := sil.State(c.at); got != c.want {
			t.Errorf("State(%v) = %s, want %s", c.at, got, c.want)
		}
		for _, st := range []string{SilenceStatePending, SilenceStateActive, SilenceStateExpired} {
			ids := silenceIDs(t, s, SilenceFilter{State: st, Now: c.at})
			if listed := slices.Contains(ids, sil.ID); listed != (st == c.want) {
				t.Errorf("at %v the %s list is %v (silence %s is %s)", c.at, st, ids, sil.ID, c.want)
			}
		}
	}

	// Update replaces in place.
	time.Sleep(time.Millisecond) // so updated_at can move
	up := sil
	up.Matchers = []SilenceMatcher{{Name: "plugin_id", Value: "p1", IsEqual: true}}
	up.EndsAt, up.Comment, up.CreatedAt = end.Add(time.Hour), "longer", time.Time{}
	got := must(s.UpdateSilence(ctx, up))
	if got.ID != sil.ID || !got.CreatedAt.Equal(sil.CreatedAt) || !got.UpdatedAt.After(sil.UpdatedAt) ||
		!reflect.DeepEqual(got.Matchers, up.Matchers) || !got.EndsAt.Equal(up.EndsAt) || got.Comment != "longer" {
		t.Fatalf("update: %+v", got)
	}
	if again := must(s.GetSilence(ctx, sil.ID)); !reflect.DeepEqual(again, got) {
		t.Fatalf("update not stored: %+v", again)
	}
	up.ID = "no-such-silence"
	_, err := s.UpdateSilence(ctx, up)
	wantErr(t, err, ErrNotFound)
	_, err = s.GetSilence(ctx, "no-such-silence")
	wantErr(t, err, ErrNotFound)

	// Expiring an active silence ends it at now, once.
	now := silenceBase.Add(10 * time.Minute)
	exp := must(s.ExpireSilence(ctx, sil.ID, now, "test"))
	if !exp.EndsAt.Equal(now) || !exp.StartsAt.Equal(silenceBase) || exp.State(now) != SilenceStateExpired {
		t.Fatalf("expire active: %+v", exp)
	}
	if ids := silenceIDs(t, s, SilenceFilter{State: SilenceStateActive, Now: now}); len(ids) != 0 {
		t.Fatalf("expired silence still listed active: %v", ids)
	}
	_, err = s.ExpireSilence(ctx, sil.ID, now, "test")
	wantErr(t, err, ErrConflict)
	_, err = s.ExpireSilence(ctx, sil.ID, now.Add(time.Hour), "test")
	wantErr(t, err, ErrConflict)
	_, err = s.ExpireSilence(ctx, "no-such-silence", now, "test")
	wantErr(t, err, ErrNotFound)

	// Expiring a pending one means it never starts.
	p := newSilence(t, s, now.Add(time.Hour), now.Add(2*time.Hour))
	exp = must(s.ExpireSilence(ctx, p.ID, now, "test"))
	if !exp.StartsAt.Equal(now) || !exp.EndsAt.Equal(now) || exp.State(now) != SilenceStateExpired {
		t.Fatalf("expire pending: %+v", exp)
	}
	if ids := silenceIDs(t, s, SilenceFilter{State: SilenceStatePending, Now: now}); len(ids) != 0 {
		t.Fatalf("expired silence still listed pending: %v", ids)
	}

	// Racing expiries: exactly one wins.
	r := newSilence(t, s, silenceBase, end)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			_, err := s.ExpireSilence(ctx, r.ID, now, "test")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 8 racing expiries won", wins)
	}

	// Pruning drops what ended before the cut, nothing else.
	if n := must(s.PruneSilences(ctx, now)); n != 1 { // the one expired at base-1h
		t.Fatalf("pruned %d, want 1", n)
	}
	if n := must(s.PruneSilences(ctx, now.Add(time.Microsecond))); n != 3 {
		t.Fatalf("pruned %d, want 3", n)
	}
	if ids := silenceIDs(t, s, SilenceFilter{}); len(ids) != 0 {
		t.Fatalf("left after pruning: %v", ids)
	}
}

func testSilenceListOrder(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	now := silenceBase
	h := time.Hour
	// Created out of order on purpose.
	e2 := newSilence(t, s, now.Add(-5*h), now.Add(-2*h))
	a1 := newSilence(t, s, now.Add(-h), now.Add(2*h))
	p1 := newSilence(t, s, now.Add(3*h), now.Add(4*h))
	e1 := newSilence(t, s, now.Add(-5*h), now.Add(-h))
	a2 := newSilence(t, s, now, now.Add(h))
	p2 := newSilence(t, s, now.Add(2*h), now.Add(5*h))
	want := []string{a2.ID, a1.ID, p2.ID, p1.ID, e1.ID, e2.ID}
	if got := silenceIDs(t, s, SilenceFilter{Now: now}); !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for st, w := range map[string][]string{
		SilenceStateActive:  {a2.ID, a1.ID},
		SilenceStatePending: {p2.ID, p1.ID},
		SilenceStateExpired: {e1.ID, e2.ID},
	} {
		if got := silenceIDs(t, s, SilenceFilter{State: st, Now: now}); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %v, want %v", st, got, w)
		}
	}
	// A zero Now is the current time: everything above is long past.
	if got := silenceIDs(t, s, SilenceFilter{State: SilenceStateExpired}); len(got) != 6 {
		t.Fatalf("expired by the clock: %v", got)
	}
}

func testSilenceValidation(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	start, end := silenceBase, silenceBase.Add(time.Hour)
	eq := func(n, v string) SilenceMatcher { return SilenceMatcher{Name: n, Value: v, IsEqual: true} }
	re := func(n, v string) SilenceMatcher {
		return SilenceMatcher{Name: n, Value: v, IsEqual: true, IsRegex: true}
	}
	bad := map[string]Silence{
		"no matchers":         {StartsAt: start, EndsAt: end},
		"empty name":          {Matchers: []SilenceMatcher{eq("", "x")}, StartsAt: start, EndsAt: end},
		"bad regex":           {Matchers: []SilenceMatcher{re("a", "(")}, StartsAt: start, EndsAt: end},
		"invalid utf-8":       {Matchers: []SilenceMatcher{eq("a", "\xff")}, StartsAt: start, EndsAt: end},
		"all match empty":     {Matchers: []SilenceMatcher{eq("a", ""), re("b", ".*")}, StartsAt: start, EndsAt: end},
		"no end":              {Matchers: cpuMatchers(), StartsAt: start},
		"end equals start":    {Matchers: cpuMatchers(), StartsAt: start, EndsAt: start},
		"end before start":    {Matchers: cpuMatchers(), StartsAt: end, EndsAt: start},
		"end in the same µs":  {Matchers: cpuMatchers(), StartsAt: start, EndsAt: start.Add(500 * time.Nanosecond)},
		"id given for create": {ID: "mine", Matchers: cpuMatchers(), StartsAt: start, EndsAt: end},
	}
	for name, sil := range bad {
		if _, err := s.CreateSilence(ctx, sil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if ids := silenceIDs(t, s, SilenceFilter{}); len(ids) != 0 {
		t.Fatalf("invalid silences stored: %v", ids)
	}
	// Negative matchers never match the empty string, as in Alertmanager.
	neg := must(s.CreateSilence(ctx, Silence{Matchers: []SilenceMatcher{{Name: "a", Value: "", IsEqual: false}, eq("b", "")},
		StartsAt: start, EndsAt: end}))
	// A zero start is now.
	before := time.Now().Add(-time.Millisecond)
	nowSil := must(s.CreateSilence(ctx, Silence{Matchers: cpuMatchers(), EndsAt: time.Now().Add(time.Hour)}))
	if nowSil.StartsAt.Before(before) || nowSil.StartsAt.After(time.Now()) {
		t.Fatalf("zero start became %v", nowSil.StartsAt)
	}
	// An invalid update changes nothing.
	upd := neg
	upd.EndsAt = upd.StartsAt
	_, err := s.UpdateSilence(ctx, upd)
	wantErr(t, err, ErrInvalid)
	if got := must(s.GetSilence(ctx, neg.ID)); !reflect.DeepEqual(got, neg) {
		t.Fatalf("invalid update changed the silence: %+v", got)
	}
	_, err = s.ListSilences(ctx, SilenceFilter{State: "muted"})
	wantErr(t, err, ErrInvalid)
	// SQL-looking text is data.
	evil := "x'; DROP TABLE silences; --"
	e := must(s.CreateSilence(ctx, Silence{Matchers: []SilenceMatcher{eq("a", evil)}, StartsAt: start, EndsAt: end, Comment: evil}))
	if got := must(s.GetSilence(ctx, e.ID)); got.Comment != evil || got.Matchers[0].Value != evil {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := s.GetSilence(ctx, evil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get by SQL-looking id: %v", err)
	}
}
