package email

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/receiver/message"
)

func sample(lang string) *message.Message {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return &message.Message{
		Data: &template.Data{
			Receiver: "ops", Status: "firing",
			Alerts: template.Alerts{{
				Status:      "firing",
				Labels:      template.KV{"alertname": "GatewayErrorRate", "master": "m1", "severity": "critical"},
				Annotations: template.KV{"summary": "Master m1 answers 7% of requests with 5xx."},
				StartsAt:    start,
			}},
			CommonLabels: template.KV{"alertname": "GatewayErrorRate", "master": "m1"},
		},
		Version: message.Version, Severity: "critical", Language: lang,
	}
}

func ptr[T any](v T) *T { return &v }

// plainConfig sends to addr without TLS or AUTH, as to a local relay.
func plainConfig(addr string) *Config {
	return &Config{
		To:         "ops@example.com, Oncall <oncall@example.com>",
		From:       "Gatewarden <gatewarden@example.com>",
		Smarthost:  addr,
		RequireTLS: ptr(false),
	}
}

func authConfig(cfg *Config, password string) *Config {
	cfg.AuthUsername, cfg.AuthPassword = testUser, commoncfg.Secret(password)
	return cfg
}

func notify(t testing.TB, cfg *Config, opts ...Option) (bool, error) {
	t.Helper()
	n, err := New(cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Notify(ctx, sample("en"))
}

func mustDeliver(t *testing.T, srv *testServer, cfg *Config, opts ...Option) received {
	t.Helper()
	if _, err := notify(t, cfg, opts...); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("server holds %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestPlainDelivery(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, false)
	got := mustDeliver(t, srv, plainConfig(srv.addr), WithHostname("gw1.example.net"))
	if got.from != "gatewarden@example.com" || !slices.Equal(got.to, []string{"ops@example.com", "oncall@example.com"}) {
		t.Errorf("envelope: from %q to %q", got.from, got.to)
	}
	if got.helo != "gw1.example.net" || got.tls || got.authed != "" {
		t.Errorf("helo %q, tls %v, auth %q: want gw1.example.net, plain text, no AUTH", got.helo, got.tls, got.authed)
	}
}

func TestStartTLSAuthPlain(t *testing.T) {
	srv := startServer(t, &backend{}, startTLS, false)
	cfg := authConfig(plainConfig(srv.addr), testPassword)
	cfg.RequireTLS = nil // the default: required
	cfg.TLSConfig.CAFile = srv.caFile
	cfg.Hello = "gw.example.net"
	got := mustDeliver(t, srv, cfg)
	if !got.tls || got.authed != "PLAIN" || got.helo != "gw.example.net" {
		t.Errorf("tls %v, auth %q, helo %q: want STARTTLS, PLAIN, the configured hello", got.tls, got.authed, got.helo)
	}
}

func TestImplicitTLSAuthLogin(t *testing.T) {
	srv := startServer(t, &backend{mechs: []string{"LOGIN"}}, implicitTLS, false)
	for _, tc := range []struct {
		name string
		tls  TLSConfig
	}{
		{"ca_file", TLSConfig{CAFile: srv.caFile}},
		{"server_name", TLSConfig{CAFile: srv.caFile, ServerName: "mail.example.com"}},
		{"insecure_skip_verify", TLSConfig{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.reset()
			cfg := authConfig(plainConfig(srv.addr), testPassword)
			cfg.TLS, cfg.TLSConfig = TLSImplicit, tc.tls
			got := mustDeliver(t, srv, cfg)
			if !got.tls || got.authed != "LOGIN" {
				t.Errorf("tls %v, auth %q: want implicit TLS and LOGIN", got.tls, got.authed)
			}
		})
	}
}

func TestUntrustedCertificate(t *testing.T) {
	srv := startServer(t, &backend{}, startTLS, false)
	for _, tc := range []struct {
		name string
		tls  TLSConfig
	}{
		{"unknown CA", TLSConfig{}},
		{"wrong name", TLSConfig{CAFile: srv.caFile, ServerName: "other.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := plainConfig(srv.addr)
			cfg.RequireTLS, cfg.TLSConfig = nil, tc.tls
			retry, err := notify(t, cfg)
			if err == nil || retry {
				t.Fatalf("retry %v, err %v: want a permanent certificate error", retry, err)
			}
		})
	}
}

func TestRequireTLSWithoutSTARTTLS(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, false)
	cfg := plainConfig(srv.addr)
	cfg.RequireTLS = ptr(true)
	retry, err := notify(t, cfg)
	if err == nil || retry || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("retry %v, err %v: want a permanent error naming STARTTLS", retry, err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Errorf("%d messages delivered in plain text", n)
	}
}

// The server offers AUTH in plain text; the client must not take it up
// unless the server is this machine.
func TestCredentialsOverPlainText(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, true)

	got := mustDeliver(t, srv, authConfig(plainConfig(srv.addr), testPassword))
	if got.authed != "PLAIN" {
		t.Errorf("auth to 127.0.0.1 = %q, want PLAIN: localhost needs no TLS", got.authed)
	}

	toLocal := WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.addr)
	})
	srv.reset()
	retry, err := notify(t, authConfig(plainConfig("mail.example.com:25"), testPassword), toLocal)
	if err == nil || retry || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("retry %v, err %v: want a permanent refusal", retry, err)
	}
	if a := srv.authAttempts(); len(a) != 0 {
		t.Errorf("client started AUTH %v over plain text", a)
	}
}

func TestWrongPassword(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  tlsMode
		mechs []string
		echo  bool
	}{
		{"PLAIN", startTLS, []string{"PLAIN"}, false},
		{"LOGIN", implicitTLS, []string{"LOGIN"}, false},
		{"PLAIN echoed", startTLS, []string{"PLAIN"}, true},
		{"LOGIN echoed", implicitTLS, []string{"LOGIN"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &backend{mechs: tc.mechs, echo: tc.echo}, tc.mode, false)
			const wrong = "not-the-Pa55word"
			cfg := authConfig(plainConfig(srv.addr), wrong)
			cfg.RequireTLS, cfg.TLSConfig.CAFile = nil, srv.caFile
			if tc.mode == implicitTLS {
				cfg.TLS = TLSImplicit
			}
			retry, err := notify(t, cfg)
			if err == nil || retry || !strings.Contains(err.Error(), "535") {
				t.Fatalf("retry %v, err %v: want a permanent 535", retry, err)
			}
			assertNoSecret(t, err.Error(), wrong)
			if tc.echo && !strings.Contains(err.Error(), "<secret>") {
				t.Errorf("echoed reply not redacted visibly: %v", err)
			}
		})
	}
}

// assertNoSecret fails if s holds the password in any form AUTH sends.
func assertNoSecret(t *testing.T, s, password string) {
	t.Helper()
	for _, form := range []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + password)),
	} {
		if strings.Contains(s, form) {
			t.Errorf("%q leaks the password as %q", s, form)
		}
	}
}

func TestPasswordFileReadAtSendTime(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, true)
	file := filepath.Join(t.TempDir(), "password")
	write := func(p string) {
		if err := os.WriteFile(file, []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := plainConfig(srv.addr)
	cfg.AuthUsername, cfg.AuthPasswordFile = testUser, file
	write(testPassword)
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), sample("en")); err != nil {
		t.Fatal(err)
	}
	write("rotated-elsewhere")
	retry, err := n.Notify(context.Background(), sample("en"))
	if err == nil || retry {
		t.Fatalf("retry %v, err %v after the file changed: want a permanent auth failure", retry, err)
	}
	assertNoSecret(t, err.Error(), "rotated-elsewhere")

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), sample("en")); err == nil || !strings.Contains(err.Error(), "auth_password_file") {
		t.Errorf("missing file: err %v, want one naming auth_password_file", err)
	}
}

func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	retry, err := notify(t, plainConfig(addr))
	if err == nil || !retry {
		t.Fatalf("retry %v, err %v: want a temporary failure", retry, err)
	}
}

func TestReplyCodes(t *testing.T) {
	for _, tc := range []struct {
		stage string
		code  int
		retry bool
	}{
		{"mail", 421, true},
		{"rcpt", 450, true},
		{"data", 451, true},
		{"rcpt", 550, false},
		{"data", 554, false},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			fail := &smtp.SMTPError{Code: tc.code, EnhancedCode: smtp.EnhancedCode{tc.code / 100, 0, 0}, Message: "test says no"}
			srv := startServer(t, &backend{fail: map[string]*smtp.SMTPError{tc.stage: fail}}, noTLS, false)
			retry, err := notify(t, plainConfig(srv.addr))
			if err == nil || retry != tc.retry {
				t.Fatalf("%d at %s: retry %v, err %v; want retry %v", tc.code, tc.stage, retry, err, tc.retry)
			}
		})
	}
}

func TestGreetingRefused(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) { _, _ = io.WriteString(c, "421 4.3.2 too busy, try later\r\n") })
	retry, err := notify(t, plainConfig(addr))
	if err == nil || !retry || !strings.Contains(err.Error(), "421") {
		t.Fatalf("retry %v, err %v: want a temporary 421", retry, err)
	}
}

// A server that accepts and never speaks holds the dialog until ctx ends.
func TestContextEndsDialog(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	dialed := make(chan struct{})
	n, err := New(plainConfig(addr), nil, WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
		defer close(dialed)
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-dialed
		cancel() // while Notify waits for the greeting
	}()
	retry, err := n.Notify(ctx, sample("en"))
	if err == nil || !retry || !errors.Is(err, context.Canceled) {
		t.Fatalf("retry %v, err %v: want a temporary failure naming the cancellation", retry, err)
	}

	cfg := plainConfig(addr)
	cfg.Timeout = yamlfile.Duration(50 * time.Millisecond)
	if retry, err := notify(t, cfg); err == nil || !retry {
		t.Fatalf("timeout: retry %v, err %v: want a temporary failure", retry, err)
	}
}

// One Notifier serves every delivery of its channel at once.
func TestConcurrentNotify(t *testing.T) {
	srv := startServer(t, &backend{}, startTLS, false)
	cfg := authConfig(plainConfig(srv.addr), testPassword)
	cfg.RequireTLS, cfg.TLSConfig.CAFile = nil, srv.caFile
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	const senders = 8
	errs := make(chan error, senders)
	for i := range senders {
		go func() {
			_, err := n.Notify(context.Background(), sample([]string{"en", "zh"}[i%2]))
			errs <- err
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(srv.messages()); got != senders {
		t.Errorf("server holds %d messages, want %d", got, senders)
	}
}
