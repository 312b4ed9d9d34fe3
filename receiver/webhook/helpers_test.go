package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

var testNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// sample is a firing group of n alerts.
func sample(n int) *message.Message {
	m := &message.Message{
		Data: &template.Data{
			Receiver: "ops", Status: "firing",
			GroupLabels:       template.KV{"alertname": "GatewayErrorRate"},
			CommonLabels:      template.KV{"alertname": "GatewayErrorRate", "severity": "critical"},
			CommonAnnotations: template.KV{"runbook": "https://runbooks/errors"},
			ExternalURL:       "http://gatewarden:9095",
		},
		Version: message.Version, GroupKey: `{}:{alertname="GatewayErrorRate"}`,
		Severity: "critical", AckURL: "http://gatewarden:9095/alerts/7",
	}
	for i := range n {
		m.Alerts = append(m.Alerts, template.Alert{
			Status:       "firing",
			Labels:       template.KV{"alertname": "GatewayErrorRate", "severity": "critical", "master": fmt.Sprint("m", i)},
			Annotations:  template.KV{"summary": fmt.Sprintf("Master m%d answers 7%% of requests with 5xx.", i)},
			StartsAt:     testNow.Add(-time.Hour),
			GeneratorURL: "http://gatewarden:9095/graph",
			Fingerprint:  fmt.Sprintf("%016x", i),
		})
	}
	return m
}

// delivery is one request a sink accepted.
type delivery struct {
	header http.Header
	body   []byte
}

// sink is a webhook receiver. With a secret it checks the signature the way
// docs/webhook.md tells receivers to, by hand rather than with Verify, so
// the documented recipe itself is under test; a bad one gets 401.
// Deliveries are on the channel before the response is written, so they can
// be read as soon as Notify returns.
func sink(t *testing.T, secret string) (*httptest.Server, <-chan delivery) {
	t.Helper()
	got := make(chan delivery, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if secret != "" {
			ts := r.Header.Get("X-Gatewarden-Timestamp")
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "."))
			mac.Write(body)
			want := hex.EncodeToString(mac.Sum(nil))
			if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Gatewarden-Signature"))) {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
			if ts != strconv.FormatInt(testNow.Unix(), 10) {
				http.Error(w, "timestamp is not the injected clock's", http.StatusUnauthorized)
				return
			}
		}
		got <- delivery{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// respond is a server answering every request with code, headers and body.
func respond(t *testing.T, code int, header http.Header, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func notifier(t testing.TB, cfg *Config) *Notifier {
	t.Helper()
	n, err := New(cfg, templates.Default(), nil, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// next returns the delivery a successful Notify left on got.
func next(t *testing.T, got <-chan delivery) delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	default:
		t.Fatal("the sink got nothing")
		return delivery{}
	}
}
