package ledgertest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// sink is the webhook endpoint of every channel: it records each request
// and answers 500 for a channel while that channel is made to fail.
type sink struct {
	srv *httptest.Server

	mu       sync.Mutex
	receipts []receipt
	failing  map[string]time.Time // channel → fails until
	spans    []span
}

func newSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{failing: map[string]time.Time{}}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(s.serve)}}
	s.srv.Start()
	return s, nil
}

func (s *sink) url() string { return s.srv.URL }

func (s *sink) close() { s.srv.Close() }

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	b, err := io.ReadAll(r.Body)
	rc := receipt{At: at, Path: r.URL.Path, Header: r.Header.Get("X-Gatewarden-Notification")}
	rc.Channel, rc.Suffix = parsePath(r.URL.Path)
	if id, perr := strconv.ParseInt(rc.Header, 10, 64); perr == nil && id > 0 {
		rc.OutboxID = id
	}
	if err == nil {
		err = json.Unmarshal(b, &rc.Body)
	}
	if err != nil {
		rc.BodyErr = err.Error()
	}
	s.mu.Lock()
	rc.Code = http.StatusOK
	if at.Before(s.failing[rc.Channel]) {
		rc.Code = http.StatusInternalServerError
	}
	s.receipts = append(s.receipts, rc)
	s.mu.Unlock()
	w.WriteHeader(rc.Code)
}

// fail makes channel answer 500 for d.
func (s *sink) fail(channel string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.failing[channel] = now.Add(d)
	s.spans = append(s.spans, span{From: now, To: now.Add(d)})
}

// failingUntil is when the last failure ends.
func (s *sink) failingUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for _, t := range s.failing {
		if t.After(last) {
			last = t
		}
	}
	return last
}

func (s *sink) snapshot() ([]receipt, []span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receipt(nil), s.receipts...), append([]span(nil), s.spans...)
}
