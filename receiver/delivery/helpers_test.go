package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/internal/pgtest"
	"github.com/gatewarden/gatewarden/internal/testclock"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

var pg *pgtest.Cluster

// builder is the receiver's own: channels are built as in production.
var builder delivery.Builder = &receiver.Integrations{}

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// sink is a real webhook receiver on 127.0.0.1. respond decides each
// request's answer from how many requests for the same group key came
// before it (0 for the first); nil answers 200. Only 2xx answers count as
// deliveries.
type sink struct {
	*httptest.Server
	respond func(path, groupKey string, n int) (code int, header http.Header)
	hold    func(path string, n int) // runs inside the handler before it answers; nil: none

	mu         sync.Mutex
	requests   map[string]int // group key → requests
	delivered  map[string]int // group key → 2xx answers
	total      int            // requests
	deliveries int            // 2xx answers
	arrived    []time.Time    // arrival of every request, in order
	cur, peak  map[string]int // requests in progress and their peak, by path
	seen       map[string]int // requests so far, by path
}

func newSink(t testing.TB) *sink {
	s := &sink{requests: map[string]int{}, delivered: map[string]int{},
		cur: map[string]int{}, peak: map[string]int{}, seen: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) serve(rw http.ResponseWriter, r *http.Request) {
	var m struct {
		GroupKey string `json:"groupKey"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(rw, "bad body", http.StatusUnprocessableEntity)
		return
	}
	s.mu.Lock()
	n := s.requests[m.GroupKey]
	s.requests[m.GroupKey]++
	s.total++
	s.arrived = append(s.arrived, time.Now())
	s.cur[r.URL.Path]++
	s.peak[r.URL.Path] = max(s.peak[r.URL.Path], s.cur[r.URL.Path])
	seen := s.seen[r.URL.Path]
	s.seen[r.URL.Path]++
	s.mu.Unlock()
	if s.hold != nil {
		s.hold(r.URL.Path, seen)
	}
	code, hdr := http.StatusOK, http.Header(nil)
	if s.respond != nil {
		code, hdr = s.respond(r.URL.Path, m.GroupKey, n)
	}
	s.mu.Lock()
	s.cur[r.URL.Path]--
	if code/100 == 2 {
		s.delivered[m.GroupKey]++
		s.deliveries++
	}
	s.mu.Unlock()
	for k, vs := range hdr {
		rw.Header()[k] = vs
	}
	rw.WriteHeader(code)
}

func (s *sink) deliveredCount() (keys, deliveries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered), s.deliveries
}

func (s *sink) count(gk string) (requests, delivered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[gk], s.delivered[gk]
}

// channel stores an enabled webhook channel posting to the sink's path.
func channel(t testing.TB, st *store.Store, name, url string) store.Channel {
	t.Helper()
	cfg, _ := json.Marshal(map[string]string{"url": url})
	ch, err := st.CreateChannel(context.Background(), store.Channel{Name: name, Type: "webhook", Config: cfg, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// enqueue adds one notification for ch whose group key is gk, as the
// receiver would.
func enqueue(t testing.TB, st *store.Store, ch store.Channel, gk string) store.OutboxItem {
	t.Helper()
	now := time.Now()
	m := message.Message{
		Data: &template.Data{
			Receiver: ch.Name, Status: "firing",
			Alerts: template.Alerts{{Status: "firing", Labels: template.KV{"alertname": "HighSpend", "key": gk},
				StartsAt: now, Fingerprint: "fp-" + gk}},
			GroupLabels: template.KV{"alertname": "HighSpend"}, CommonLabels: template.KV{"alertname": "HighSpend"},
			CommonAnnotations: template.KV{},
		},
		Version: message.Version, GroupKey: gk,
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// Claimed as the dispatcher claims a state change, so the outcome is
	// recorded in the history.
	var it store.OutboxItem
	err = st.InLedger(context.Background(), now, func(tx *store.LedgerTx) error {
		made, err := tx.Claim([]store.Notification{{Fingerprint: "fp-" + gk, Episode: now, Transition: store.TransitionFiring,
			ChannelID: ch.ID, Receiver: ch.Name, GroupKey: gk}})
		if err != nil || len(made) != 1 {
			return fmt.Errorf("claim: %v (%d made)", err, len(made))
		}
		it, err = tx.Enqueue(store.OutboxItem{Fingerprint: "fp-" + gk, ChannelID: ch.ID, Payload: payload, GroupKey: gk,
			IdempotencyKey: fmt.Sprintf("%d/%s", ch.ID, gk)}, []int64{made[0].ID})
		return err
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", gk, err)
	}
	return it
}

// start runs a worker with the real integrations until the test ends or
// the returned stop is called; stop waits for Run to return.
func start(t testing.TB, o delivery.Options) (*delivery.Worker, func()) {
	t.Helper()
	if o.Builder == nil {
		o.Builder = builder
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	w := delivery.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// eventually polls cond until it holds or the deadline passes: real HTTP
// round trips take however long they take, so tests wait for effects
// rather than sleeping a guessed time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// history returns a channel's history, oldest first.
func history(t testing.TB, st *store.Store, channelID int64) []store.HistoryEntry {
	t.Helper()
	hs, _, err := st.ListHistory(context.Background(), store.HistoryFilter{ChannelID: channelID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hs, func(a, b store.HistoryEntry) int { return int(a.ID - b.ID) })
	return hs
}

// settled: item id's attempt n has an outcome on the item (a retry
// scheduled, or final). Attempts before the last are the item's alone:
// the history records the outcome.
func settled(t testing.TB, st *store.Store, id int64, n int) func() bool {
	return func() bool {
		it := item(t, st, id)
		return it.Attempts == n && it.State != store.OutboxSending
	}
}

func item(t testing.TB, st *store.Store, id int64) store.OutboxItem {
	t.Helper()
	it, err := st.GetOutboxItem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// newClock starts at the real time, so that items the store stamped as
// due now are due by it too.
func newClock() *testclock.Clock { return testclock.New(time.Now().UTC().Truncate(time.Microsecond)) }

// noJitter makes every backoff its ceiling, so tests can assert it.
func noJitter(d time.Duration) time.Duration { return d }
