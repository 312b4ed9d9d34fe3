package main

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// webhookSink is gwbench's own webhook receiver: it hands every firing
// alert of every notification to seen, with the time the notification
// arrived, one notification at a time.
type webhookSink struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	seen func(at time.Time, labels map[string]string)
}

func startWebhookSink(seen func(at time.Time, labels map[string]string)) (*webhookSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &webhookSink{url: "http://" + l.Addr().String() + "/hook", seen: seen}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *webhookSink) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var msg struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range msg.Alerts {
		if a.Status == "firing" {
			s.seen(at, a.Labels)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// locked runs f under the lock seen runs under.
func (s *webhookSink) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *webhookSink) close() { _ = s.srv.Close() }
