package gatewaysim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The simulated gateway's operators read their notifications here: a
// webhook sink and a Feishu custom-bot stand-in that check signatures as
// the real ones do, so the demo and the tests see what gatewarden sent.

// Notification is one delivery a sink received.
type Notification struct {
	Sink       string          `json:"sink"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Verified   bool            `json:"verified"`
	Error      string          `json:"error,omitempty"`
	Body       json.RawMessage `json:"body"`
}

// sinks keeps the last deliveries.
type sinks struct {
	mu     sync.Mutex
	got    []Notification
	secret string // shared by both sinks; empty accepts unsigned deliveries
	now    func() time.Time
}

const keptNotifications = 200

func (k *sinks) record(n Notification) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.got = append(k.got, n)
	if len(k.got) > keptNotifications {
		k.got = k.got[len(k.got)-keptNotifications:]
	}
}

// Notifications returns what the sinks received, oldest first.
func (s *Sim) Notifications() []Notification {
	s.sinks.mu.Lock()
	defer s.sinks.mu.Unlock()
	return append([]Notification(nil), s.sinks.got...)
}

func (k *sinks) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/webhook", k.webhook)
	mux.HandleFunc("POST /sim/feishu/{token}", k.feishu)
	mux.HandleFunc("GET /sim/notifications", func(w http.ResponseWriter, _ *http.Request) {
		k.mu.Lock()
		defer k.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string][]Notification{"notifications": k.got})
	})
}

// webhook checks gatewarden's signature: hex HMAC-SHA256 of
// timestamp + "." + body.
func (k *sinks) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	n := Notification{Sink: "webhook", ReceivedAt: k.now(), Body: body, Verified: k.secret == ""}
	if k.secret != "" {
		mac := hmac.New(sha256.New, []byte(k.secret))
		mac.Write([]byte(r.Header.Get("X-Gatewarden-Timestamp") + "."))
		mac.Write(body)
		n.Verified = hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Gatewarden-Signature")))
	}
	if !n.Verified {
		n.Error = "bad signature"
		k.record(n)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	k.record(n)
	w.WriteHeader(http.StatusNoContent)
}

// feishu answers as a Feishu custom bot: HTTP 200 with a code, 19021 when
// the signature (HMAC-SHA256 keyed with timestamp + "\n" + secret over an
// empty message, base64) does not match or the timestamp is over an hour off.
func (k *sinks) feishu(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Timestamp string `json:"timestamp"`
		Sign      string `json:"sign"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 20<<10))
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"code": 9499, "msg": "Bad Request", "data": map[string]any{}})
		return
	}
	_ = json.Unmarshal(body, &msg)
	n := Notification{Sink: "feishu", ReceivedAt: k.now(), Body: body, Verified: k.secret == ""}
	if k.secret != "" {
		mac := hmac.New(sha256.New, []byte(msg.Timestamp+"\n"+k.secret))
		ts, _ := strconv.ParseInt(msg.Timestamp, 10, 64)
		skew := k.now().Sub(time.Unix(ts, 0)).Abs()
		n.Verified = hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(msg.Sign)) && skew < time.Hour
	}
	if !n.Verified {
		n.Error = "sign match fail or timestamp is not within one hour from current time"
		k.record(n)
		writeJSON(w, http.StatusOK, map[string]any{"code": 19021, "msg": n.Error, "data": map[string]any{}})
		return
	}
	k.record(n)
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "success", "data": map[string]any{}})
}
