package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// Feishu's own response bodies, as its custom bot endpoint sends them.
const (
	respSuccess  = `{"code":0,"data":{},"msg":"success"}`
	respSignFail = `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`
	respTooMany  = `{"code":9499,"data":{},"msg":"too many request"}`
	respKeyword  = `{"code":19024,"data":{},"msg":"Key Words Not Found"}`
	respBadToken = `{"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}`
)

// standIn is a Feishu custom bot on 127.0.0.1: it checks the path's token,
// the body size, the signature (recomputed from timestamp and secret, as
// Feishu does) and an optional keyword, then records the body.
type standIn struct {
	t       testing.TB
	srv     *httptest.Server
	token   string
	secret  string
	keyword string
	now     func() time.Time
	// reply, when set, answers a request that passed every check.
	reply func(w http.ResponseWriter)

	mu     sync.Mutex
	bodies [][]byte
}

func newStandIn(t testing.TB, secret string) *standIn {
	s := &standIn{t: t, secret: secret, now: time.Now,
		token: strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-7d3f0c2a-token"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the bot's webhook, token included.
func (s *standIn) URL() string { return s.srv.URL + "/open-apis/bot/v2/hook/" + s.token }

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method != http.MethodPost || r.URL.Path != "/open-apis/bot/v2/hook/"+s.token {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, respBadToken)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) >= MaxBodyBytes {
		s.t.Errorf("body of %d bytes, limit %d", len(body), MaxBodyBytes)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	var p struct {
		Timestamp string `json:"timestamp"`
		Sign      string `json:"sign"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		s.t.Errorf("body is not JSON: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":9499,"data":{},"msg":"Bad Request"}`)
		return
	}
	if s.secret != "" && !s.signed(p.Timestamp, p.Sign) {
		io.WriteString(w, respSignFail)
		return
	}
	if s.keyword != "" && !strings.Contains(string(body), s.keyword) {
		io.WriteString(w, respKeyword)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	if s.reply != nil {
		s.reply(w)
		return
	}
	io.WriteString(w, respSuccess)
}

// signed is Feishu's check, written apart from Sign so a mistake in one is
// not repeated in the other.
func (s *standIn) signed(timestamp, sign string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := s.now().Unix() - ts; d > 3600 || d < -3600 {
		return false
	}
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+s.secret))
	mac.Write(nil)
	want := mac.Sum(nil)
	got, err := base64.StdEncoding.DecodeString(sign)
	return err == nil && hmac.Equal(got, want)
}

func (s *standIn) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// last decodes the last body received.
func (s *standIn) last() map[string]any {
	s.t.Helper()
	b := s.received()
	if len(b) == 0 {
		s.t.Fatal("stand-in received nothing")
	}
	var m map[string]any
	if err := json.Unmarshal(b[len(b)-1], &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// fakeClock is the injected clock; Sleep advances it instead of waiting.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// notifier builds a Notifier for s with a fake clock and a limiter of its
// own, so tests neither wait nor share a rate limit.
func notifier(t testing.TB, s *standIn, cfg Config, c *fakeClock, opts ...Option) *Notifier {
	t.Helper()
	if cfg.URL == "" && cfg.URLFile == "" {
		cfg.URL = commoncfg.Secret(s.URL())
	}
	if cfg.Secret == "" && cfg.SecretFile == "" {
		cfg.Secret = commoncfg.Secret(s.secret)
	}
	s.now = c.Now
	opts = append([]Option{WithClock(c.Now), WithSleep(c.Sleep), WithLimiter(NewLimiter())}, opts...)
	n, err := New(&cfg, nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func alert(i int, status string) template.Alert {
	a := template.Alert{
		Status: status,
		Labels: template.KV{"alertname": "GatewayErrorRate", "master": fmt.Sprintf("m%d", i), "severity": "warning"},
		Annotations: template.KV{
			"summary":     fmt.Sprintf("Master m%d answers 7%% of requests with 5xx.", i),
			"description": "The 5xx ratio over 5m is above 5%.",
		},
		StartsAt: start, GeneratorURL: "http://gw:9095/graph?g0.expr=x",
	}
	if status == "resolved" {
		a.EndsAt = start.Add(time.Hour)
	}
	return a
}

// msg is a message of n alerts, all with status.
func msg(n int, status, severity, lang string) *message.Message {
	var alerts template.Alerts
	for i := range n {
		alerts = append(alerts, alert(i, status))
	}
	return &message.Message{
		Data: &template.Data{Receiver: "ops", Status: status, Alerts: alerts,
			CommonLabels: template.KV{"alertname": "GatewayErrorRate"}},
		Version: message.Version, Severity: severity, Language: lang,
		AckURL: "http://gw:9095/alerts/7",
	}
}

// at walks decoded JSON: at(v, "card", "elements", 0, "tag").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// elements returns the card's elements with the given tag.
func elements(body map[string]any, tag string) []any {
	var out []any
	for _, e := range at(body, "card", "elements").([]any) {
		if at(e, "tag") == tag {
			out = append(out, e)
		}
	}
	return out
}
