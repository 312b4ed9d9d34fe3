package receiver

import (
	"testing"
	"time"
)

// A resync that reads the store between a resolution's assignment and its
// recording reopens the episode; the dispatcher routing the resolution
// closes it again, so a later firing post starts a new episode and the
// count of firing alerts is right.
func TestEpisodesResyncRace(t *testing.T) {
	e := NewEpisodes()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	fire := []Alert{{Labels: map[string]string{"alertname": "A"}, StartsAt: t0}}
	e.Assign(fire, t0)
	resolved := []Alert{{Labels: map[string]string{"alertname": "A"}, StartsAt: t0, EndsAt: t0.Add(time.Minute)}}
	e.Assign(resolved, t0.Add(time.Minute))
	if e.Len() != 0 {
		t.Fatalf("after the resolution %d open", e.Len())
	}
	fp := resolved[0].Fingerprint()
	e.Open(Alert{Labels: map[string]string{"alertname": "A"}, StartsAt: t0}) // the resync, from a store not yet told
	e.Close(fp, t0.Add(time.Second))
	if e.Len() != 1 {
		t.Fatal("Close forgot an episode that starts at another time")
	}
	e.Close(fp, resolved[0].StartsAt) // the dispatcher routing the resolution
	if e.Len() != 0 || e.Bytes() != 0 || e.IsOpen(fp, t0.Add(2*time.Minute)) {
		t.Fatal("the reopened episode is still open")
	}
	again := []Alert{{Labels: map[string]string{"alertname": "A"}, StartsAt: t0.Add(2 * time.Minute)}}
	e.Assign(again, t0.Add(2*time.Minute))
	if !again[0].StartsAt.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("the next firing continued the old episode: starts %s", again[0].StartsAt)
	}
}
