package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The auto-throttle's decisions and policy: part of runContract.

var throttleBase = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func newThrottle(inst, key string) Throttle {
	return Throttle{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: inst, State: ThrottleThrottling,
		MaxConcurrency: 0, PreviousMaxConcurrency: 64, Reason: "cpu 0.95 > 0.8", Op: "apply", OpKey: key,
		OpLimit: 32, DecidedAt: throttleBase}
}

func testThrottleLifecycle(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	th := must(s.CreateThrottle(ctx, newThrottle("i1", "k1")))
	if th.ID == 0 || th.State != ThrottleThrottling || th.Actor != "auto" || th.Step != 1 || !th.DecidedAt.Equal(throttleBase) ||
		th.OpKey != "k1" || th.OpLimit != 32 || th.UpdatedAt.IsZero() || !th.AppliedAt.IsZero() {
		t.Fatalf("created %+v", th)
	}
	// One active throttle per instance, and keys are unique.
	_, err := s.CreateThrottle(ctx, newThrottle("i1", "k2"))
	wantErr(t, err, ErrConflict)
	_, err = s.CreateThrottle(ctx, newThrottle("i2", "k1"))
	wantErr(t, err, ErrConflict)

	// Acknowledged: the limit is in force until expires_at.
	th.State, th.MaxConcurrency, th.AppliedAt, th.ExpiresAt = ThrottleThrottled, 32, throttleBase.Add(time.Second), throttleBase.Add(10*time.Minute)
	th = must(s.UpdateThrottle(ctx, th, ThrottleThrottling))
	if th.State != ThrottleThrottled || th.MaxConcurrency != 32 || !th.ExpiresAt.Equal(throttleBase.Add(10*time.Minute)) {
		t.Fatalf("updated %+v", th)
	}
	// A stale writer that still thinks it is throttling loses.
	_, err = s.UpdateThrottle(ctx, th, ThrottleThrottling)
	wantErr(t, err, ErrConflict)
	_, err = s.UpdateThrottle(ctx, Throttle{ID: 4242, TenantID: "t", PluginID: "p", InstanceID: "i", State: ThrottleReleased, Op: "x", OpKey: "y"}, "")
	wantErr(t, err, ErrNotFound)

	// A pending release survives as low_since; the release itself ends it.
	th.LowSince = throttleBase.Add(time.Minute)
	th = must(s.UpdateThrottle(ctx, th, ""))
	if got := must(s.ListActiveThrottles(ctx)); len(got) != 1 || !got[0].LowSince.Equal(th.LowSince) {
		t.Fatalf("active %+v", got)
	}
	th.State, th.Op, th.OpKey, th.OpLimit = ThrottleReleasing, "release", "k1-release", 64
	th = must(s.UpdateThrottle(ctx, th, ThrottleThrottled))
	th.State, th.ReleasedAt, th.ReleaseReason, th.ReleasedBy = ThrottleReleased, throttleBase.Add(3*time.Minute), "recovered", "auto"
	th = must(s.UpdateThrottle(ctx, th, ThrottleReleasing))
	if th.ReleaseReason != "recovered" || th.OpKey != "k1-release" {
		t.Fatalf("released %+v", th)
	}
	if got := must(s.ListActiveThrottles(ctx)); len(got) != 0 {
		t.Fatalf("active after release: %+v", got)
	}
	// Released, the instance may be throttled again.
	again := newThrottle("i1", "k3")
	again.DecidedAt = throttleBase.Add(time.Hour)
	again = must(s.CreateThrottle(ctx, again))
	failed := newThrottle("i2", "k4")
	failed.State, failed.LastError = ThrottleFailed, "gateway answered 501"
	must(s.CreateThrottle(ctx, failed))

	items, total := must2(s.ListThrottles(ctx, ThrottleFilter{InstanceID: "i1"}))
	if total != 2 || items[0].ID != again.ID || items[1].ID != th.ID {
		t.Fatalf("list i1: %d %+v", total, items)
	}
	if _, total := must2(s.ListThrottles(ctx, ThrottleFilter{Active: true})); total != 1 {
		t.Fatalf("active total %d", total)
	}
	if _, total := must2(s.ListThrottles(ctx, ThrottleFilter{Since: throttleBase.Add(time.Minute)})); total != 1 {
		t.Fatalf("since total %d", total)
	}
	if items, total := must2(s.ListThrottles(ctx, ThrottleFilter{Limit: 1, Offset: 1})); total != 3 || len(items) != 1 {
		t.Fatalf("page: %d %+v", total, items)
	}
	_, err = s.GetThrottle(ctx, failed.ID+1000)
	wantErr(t, err, ErrNotFound)
}

// must2 is must for the (items, total, err) of the list calls.
func must2[T any](items []T, total int, err error) ([]T, int) {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(mustErr{fmt.Errorf("%s:%d: %w", filepath.Base(file), line, err)})
	}
	return items, total
}

func testThrottleConcurrentCreate(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, conflicts := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := s.CreateThrottle(ctx, newThrottle("i1", fmt.Sprint("race-", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrConflict):
				conflicts++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || conflicts != 7 {
		t.Fatalf("%d creates won, %d conflicted; want 1 and 7", won, conflicts)
	}
}

func testThrottleFeedback(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	var ids []int64
	for i := range 5 {
		th := newThrottle(fmt.Sprint("i", i), fmt.Sprint("fb-", i))
		th.State = ThrottleReleased
		ids = append(ids, must(s.CreateThrottle(ctx, th)).ID)
	}
	for i, id := range ids[:4] {
		th := must(s.SetThrottleFeedback(ctx, id, true, "alice", throttleBase.Add(time.Duration(i)*time.Hour)))
		if !th.FalsePositive || th.FeedbackBy != "alice" {
			t.Fatalf("feedback %+v", th)
		}
	}
	must(s.SetThrottleFeedback(ctx, ids[3], false, "bob", throttleBase.Add(5*time.Hour)))
	if n := must(s.CountFalsePositives(ctx, throttleBase)); n != 3 {
		t.Fatalf("%d false positives, want 3 (one was taken back)", n)
	}
	if n := must(s.CountFalsePositives(ctx, throttleBase.Add(90*time.Minute))); n != 1 {
		t.Fatalf("%d false positives since 10:30, want 1", n)
	}
	// Feedback is not overwritten by the controller's updates.
	th := must(s.GetThrottle(ctx, ids[0]))
	th.LastError = "x"
	if th = must(s.UpdateThrottle(ctx, th, "")); !th.FalsePositive {
		t.Fatal("UpdateThrottle cleared the feedback")
	}
	_, err := s.SetThrottleFeedback(ctx, 4242, true, "alice", throttleBase)
	wantErr(t, err, ErrNotFound)
}

func testThrottlePolicy(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	_, err := s.GetThrottlePolicy(ctx)
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteThrottlePolicy(ctx), ErrNotFound)
	first := must(s.PutThrottlePolicy(ctx, ThrottlePolicy{Policy: json.RawMessage(`{"dry_run":true}`), UpdatedBy: "alice", UpdatedAt: throttleBase}))
	if string(first.Policy) != `{"dry_run":true}` || first.UpdatedBy != "alice" || !first.UpdatedAt.Equal(throttleBase) {
		t.Fatalf("put %+v", first)
	}
	must(s.PutThrottlePolicy(ctx, ThrottlePolicy{Policy: json.RawMessage(`{"ttl":"5m"}`), UpdatedBy: "bob"}))
	if got := must(s.GetThrottlePolicy(ctx)); string(got.Policy) != `{"ttl":"5m"}` || got.UpdatedBy != "bob" {
		t.Fatalf("get %+v", got)
	}
	_, err = s.PutThrottlePolicy(ctx, ThrottlePolicy{Policy: json.RawMessage(`{`)})
	wantErr(t, err, ErrInvalid)
	must(0, s.DeleteThrottlePolicy(ctx))
	_, err = s.GetThrottlePolicy(ctx)
	wantErr(t, err, ErrNotFound)
}

func testThrottleValidation(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	for name, th := range map[string]Throttle{
		"no instance": {TenantID: "t", PluginID: "p", State: ThrottleThrottling, Op: "apply", OpKey: "k"},
		"no key":      {TenantID: "t", PluginID: "p", InstanceID: "i", State: ThrottleThrottling, Op: "apply"},
		"bad state":   {TenantID: "t", PluginID: "p", InstanceID: "i", State: "detecting", Op: "apply", OpKey: "k"},
	} {
		if _, err := s.CreateThrottle(ctx, th); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	s.Close()
	checks := map[string]error{}
	_, checks["create"] = s.CreateThrottle(ctx, newThrottle("i1", "k"))
	_, checks["update"] = s.UpdateThrottle(ctx, newThrottle("i1", "k"), "")
	_, checks["get"] = s.GetThrottle(ctx, 1)
	_, _, checks["list"] = s.ListThrottles(ctx, ThrottleFilter{})
	_, checks["active"] = s.ListActiveThrottles(ctx)
	_, checks["feedback"] = s.SetThrottleFeedback(ctx, 1, true, "a", throttleBase)
	_, checks["count"] = s.CountFalsePositives(ctx, throttleBase)
	_, checks["put_policy"] = s.PutThrottlePolicy(ctx, ThrottlePolicy{Policy: json.RawMessage(`{}`)})
	_, checks["get_policy"] = s.GetThrottlePolicy(ctx)
	checks["delete_policy"] = s.DeleteThrottlePolicy(ctx)
	for name, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", name, err)
		}
	}
}

// testMigrateFromV2 upgrades a receiver-era database: its audit records
// stay, and the throttle tables appear.
func testMigrateFromV2(t *testing.T, newDB backend) {
	o := newDB(t)
	v2 := openAtVersion(t, o, 2)
	must(v2.AddThrottleAudit(ctx, ThrottleAudit{TenantID: "t1", PluginID: "p", InstanceID: "i1", Action: "apply", Result: "ok"}))
	if _, err := v2.CreateThrottle(ctx, newThrottle("i1", "k")); err == nil {
		t.Fatal("throttles table exists at version 2")
	}
	v2.Close()
	s := openStore(t, o)
	if _, total := must2(s.ListThrottleAudit(ctx, AuditFilter{})); total != 1 {
		t.Fatalf("audit after upgrade: %d records", total)
	}
	must(s.CreateThrottle(ctx, newThrottle("i1", "k")))
}

func testThrottleAutomation(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	_, err := s.GetThrottleAutomation(ctx)
	wantErr(t, err, ErrNotFound)
	off := must(s.PutThrottleAutomation(ctx, ThrottleAutomation{Enabled: false, Reason: "incident 42", ChangedBy: "alice", ChangedAt: throttleBase}))
	if off.Enabled || off.Reason != "incident 42" || off.ChangedBy != "alice" || !off.ChangedAt.Equal(throttleBase) {
		t.Fatalf("put %+v", off)
	}
	must(s.PutThrottleAutomation(ctx, ThrottleAutomation{Enabled: true, ChangedBy: "bob"}))
	if got := must(s.GetThrottleAutomation(ctx)); !got.Enabled || got.ChangedBy != "bob" || got.Reason != "" || got.ChangedAt.IsZero() {
		t.Fatalf("get %+v", got)
	}
	row := must(s.CreateThrottle(ctx, Throttle{TenantID: "t", PluginID: "p", InstanceID: "i", State: ThrottleThrottling, Op: "apply", OpKey: "key-1", DecidedAt: throttleBase}))
	if got := must(s.GetThrottleByKey(ctx, "key-1")); got.ID != row.ID {
		t.Fatalf("by key: %+v, want id %d", got, row.ID)
	}
	_, err = s.GetThrottleByKey(ctx, "key-2")
	wantErr(t, err, ErrNotFound)
}
