package delivery

import (
	"errors"
	"testing"

	"github.com/gatewarden/gatewarden/receiver/feishu"
	"github.com/gatewarden/gatewarden/store"
)

// noStore and noBuilder are never called by the health bookkeeping.
type noStore struct{ Store }
type noBuilder struct{ Builder }

func TestRateLimitsDoNotMakeAChannelFailing(t *testing.T) {
	var failing, recovered int
	w := New(Options{Store: noStore{}, Builder: noBuilder{}, FailingThreshold: 2,
		OnFailing:   func(store.Channel, int, error) { failing++ },
		OnRecovered: func(store.Channel) { recovered++ },
	})
	ch := store.Channel{ID: 1, Name: "bot", Config: []byte(`{"webhook_url":"secret"}`)}
	busy := &feishu.APIError{StatusCode: 200, Code: 9499, Msg: "too many request"}
	for range 5 {
		w.noteHealth(ch, busy)
	}
	if failing != 0 {
		t.Fatalf("Feishu's rate limit made the channel failing")
	}
	w.noteHealth(ch, errors.New("boom"))
	w.noteHealth(ch, busy) // neither counts nor resets the streak
	w.noteHealth(ch, errors.New("boom"))
	w.noteHealth(ch, errors.New("boom"))
	if failing != 1 {
		t.Fatalf("OnFailing called %d times, want once at the threshold", failing)
	}
	w.noteHealth(ch, nil)
	w.noteHealth(ch, nil)
	if recovered != 1 {
		t.Fatalf("OnRecovered called %d times, want once", recovered)
	}
}
