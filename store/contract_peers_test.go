package store

import (
	"reflect"
	"testing"
	"time"
)

// Peers: part of runContract.

func testPeers(t *testing.T, newDB backend) {
	s := openStore(t, newDB(t))
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	names := func(since time.Time) []string {
		var out []string
		for _, p := range must(s.Peers(ctx, since)) {
			out = append(out, p.Name)
		}
		return out
	}
	beat := func(name string, at time.Time) {
		if err := s.Heartbeat(ctx, Peer{Name: name, StartedAt: t0, SeenAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	beat("b:9095", t0)
	beat("a:9095", t0.Add(10*time.Second))
	if got := names(t0.Add(5 * time.Second)); !reflect.DeepEqual(got, []string{"a:9095"}) {
		t.Fatalf("alive since +5s: %v, want only a", got)
	}
	beat("b:9095", t0.Add(20*time.Second))
	if got := names(t0.Add(5 * time.Second)); !reflect.DeepEqual(got, []string{"a:9095", "b:9095"}) {
		t.Fatalf("after b's heartbeat: %v, want a and b by name", got)
	}
	p := must(s.Peers(ctx, t0))[1]
	if !p.StartedAt.Equal(t0) || !p.SeenAt.Equal(t0.Add(20*time.Second)) {
		t.Errorf("b: %+v", p)
	}
	// A day without a heartbeat removes a peer's row.
	if got := names(t0.Add(25 * time.Hour)); len(got) != 0 {
		t.Fatalf("a day on: %v alive", got)
	}
	if got := names(t0.Add(-time.Hour)); len(got) != 0 {
		t.Errorf("rows of peers gone a day remain: %v", got)
	}
}
