package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/receiver/message"
)

func TestPayloadIsAlertmanagers(t *testing.T) {
	srv, got := sink(t, "s3cret")
	n := notifier(t, &Config{URL: commoncfg.Secret(srv.URL + "/hook"), Secret: "s3cret"})
	if retry, err := n.Notify(context.Background(), sample(2)); err != nil {
		t.Fatalf("retry=%v: %v", retry, err)
	}
	d := next(t, got)

	var am amMessage
	if err := json.Unmarshal(d.body, &am); err != nil {
		t.Fatalf("Alertmanager's webhook.Message cannot decode the body: %v", err)
	}
	if am.Version != "4" || am.GroupKey != `{}:{alertname="GatewayErrorRate"}` || am.Status != "firing" ||
		am.Receiver != "ops" || len(am.Alerts) != 2 || am.Alerts[1].Labels["master"] != "m1" ||
		am.ExternalURL != "http://gatewarden:9095" || am.CommonAnnotations["runbook"] == "" {
		t.Errorf("decoded as %+v", am)
	}

	// Every field but gatewarden's own must survive Alertmanager's type
	// unchanged: nothing renamed, nothing of a different shape.
	var ours, theirs map[string]any
	mustUnmarshal(t, d.body, &ours)
	again, err := json.Marshal(am)
	if err != nil {
		t.Fatal(err)
	}
	mustUnmarshal(t, again, &theirs)
	for k, want := range map[string]any{"kind": "alert", "severity": "critical", "ackURL": "http://gatewarden:9095/alerts/7"} {
		if ours[k] != want {
			t.Errorf("%s = %v, want %v", k, ours[k], want)
		}
		delete(ours, k)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Errorf("fields differ from Alertmanager's:\nours   %v\ntheirs %v", ours, theirs)
	}

	if ct := d.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := d.header.Get("User-Agent"); !strings.HasPrefix(ua, "gatewarden/") {
		t.Errorf("User-Agent %q", ua)
	}
	if err := Verify([]byte("s3cret"), d.header.Get(HeaderTimestamp), d.body, d.header.Get(HeaderSignature), testNow, time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestUnsignedAndHeaders(t *testing.T) {
	srv, got := sink(t, "")
	n := notifier(t, &Config{URL: commoncfg.Secret(srv.URL), Headers: map[string]commoncfg.Secret{"X-Tenant": "t1", "user-agent": "custom/1"}})
	if _, err := n.Notify(context.Background(), sample(1)); err != nil {
		t.Fatal(err)
	}
	d := next(t, got)
	if d.header.Get(HeaderSignature) != "" || d.header.Get(HeaderTimestamp) != "" {
		t.Errorf("unsigned delivery has signature headers: %v", d.header)
	}
	if d.header.Get("X-Tenant") != "t1" || d.header.Get("User-Agent") != "custom/1" {
		t.Errorf("configured headers not sent: %v", d.header)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
		ok    bool
	}{
		{200, false, true}, {202, false, true}, {204, false, true},
		{500, true, false}, {502, true, false}, {503, true, false}, {429, true, false},
		{400, false, false}, {401, false, false}, {404, false, false}, {301, false, false},
	} {
		// Were the 301 followed, its Location would fail to resolve and retry.
		srv := respond(t, tc.code, http.Header{"Location": {"http://elsewhere.invalid/"}}, "upstream said no")
		retry, err := notifier(t, &Config{URL: commoncfg.Secret(srv.URL)}).Notify(context.Background(), sample(1))
		if retry != tc.retry || (err == nil) != tc.ok {
			t.Errorf("%d: retry=%v err=%v, want retry=%v ok=%v", tc.code, retry, err, tc.retry, tc.ok)
			continue
		}
		if tc.ok {
			continue
		}
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.code || se.Body != "upstream said no" || se.Origin != srv.URL {
			t.Errorf("%d: %#v", tc.code, err)
		}
		if !strings.Contains(err.Error(), "upstream said no") {
			t.Errorf("%d: error lacks the body excerpt: %v", tc.code, err)
		}
	}
}

func TestExcerptIsBounded(t *testing.T) {
	srv := respond(t, 500, nil, strings.Repeat("é", 10_000))
	_, err := notifier(t, &Config{URL: commoncfg.Secret(srv.URL)}).Notify(context.Background(), sample(1))
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if len(se.Body) > 256 || len(se.Body) < 250 || !strings.HasPrefix(se.Body, "éé") || strings.ContainsRune(se.Body, '\uFFFD') {
		t.Errorf("excerpt of %d bytes: %q", len(se.Body), se.Body)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		code  int
		value string
		after time.Duration // 0: no RetryAfterError
	}{
		{429, "120", 2 * time.Minute},
		{503, testNow.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{503, testNow.Add(-time.Minute).Format(http.TimeFormat), 0},
		{429, "0", 0},
		{429, "soon", 0},
		{400, "30", 0}, // a permanent failure has nothing to wait for
	} {
		srv := respond(t, tc.code, http.Header{"Retry-After": {tc.value}}, "")
		_, err := notifier(t, &Config{URL: commoncfg.Secret(srv.URL)}).Notify(context.Background(), sample(1))
		var ra *RetryAfterError
		if errors.As(err, &ra) != (tc.after != 0) || ra != nil && ra.After != tc.after {
			t.Errorf("%d Retry-After %q: %v", tc.code, tc.value, err)
			continue
		}
		if ra == nil {
			continue
		}
		// The outbox may find the delay without importing this package.
		var d interface{ RetryAfter() time.Duration }
		if !errors.As(err, &d) || d.RetryAfter() != tc.after {
			t.Errorf("%d: RetryAfter method not found through %v", tc.code, err)
		}
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.code {
			t.Errorf("%d: StatusError not wrapped: %v", tc.code, err)
		}
	}
}

// hang is a server whose handler blocks until the test ends; arrived gets a
// value once a request is in.
func hang(t *testing.T) (srv *httptest.Server, arrived <-chan struct{}) {
	release, in := make(chan struct{}), make(chan struct{}, 1)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: release the handlers, then Close
	// waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, in
}

func TestTimeout(t *testing.T) {
	srv, _ := hang(t)
	n := notifier(t, &Config{URL: commoncfg.Secret(srv.URL), Timeout: yamlfile.Duration(50 * time.Millisecond)})
	retry, err := n.Notify(context.Background(), sample(1))
	if !retry || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout 50ms") {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

func TestCancelled(t *testing.T) {
	srv, arrived := hang(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	retry, err := notifier(t, &Config{URL: commoncfg.Secret(srv.URL)}).Notify(ctx, sample(1))
	if !retry || !errors.Is(err, context.Canceled) {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	retry, err := notifier(t, &Config{URL: commoncfg.Secret("http://" + addr)}).Notify(context.Background(), sample(1))
	if !retry || err == nil {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

func TestFilesReadAtSendTime(t *testing.T) {
	a, gotA := sink(t, "first")
	b, gotB := sink(t, "second")
	dir := t.TempDir()
	urlFile, secretFile := filepath.Join(dir, "url"), filepath.Join(dir, "secret")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := notifier(t, &Config{URLFile: urlFile, SecretFile: secretFile})

	write(urlFile, a.URL+"/hook\n")
	write(secretFile, "first\n") // the newline an editor leaves is trimmed
	if _, err := n.Notify(context.Background(), sample(1)); err != nil {
		t.Fatal(err)
	}
	next(t, gotA)

	write(urlFile, b.URL)
	write(secretFile, "second")
	if _, err := n.Notify(context.Background(), sample(1)); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	next(t, gotB)

	for _, tc := range []struct {
		name, url, secret string
		retry             bool
	}{
		{"missing secret file", b.URL, "", true},
		{"empty secret file", b.URL, "\n", false},
		{"bad url in file", "ftp://x", "second", false},
	} {
		write(urlFile, tc.url)
		os.Remove(secretFile)
		if tc.secret != "" {
			write(secretFile, tc.secret)
		}
		retry, err := n.Notify(context.Background(), sample(1))
		if err == nil || retry != tc.retry {
			t.Errorf("%s: retry=%v err=%v", tc.name, retry, err)
		}
	}
}

func TestMaxAlerts(t *testing.T) {
	srv, got := sink(t, "")
	n := notifier(t, &Config{URL: commoncfg.Secret(srv.URL), MaxAlerts: 2})
	m := sample(5)
	m.TruncatedAlerts = 1 // already truncated upstream
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var am amMessage
	mustUnmarshal(t, next(t, got).body, &am)
	if len(am.Alerts) != 2 || am.TruncatedAlerts != 4 || am.Alerts[1].Labels["master"] != "m1" {
		t.Errorf("%d alerts, truncatedAlerts %d", len(am.Alerts), am.TruncatedAlerts)
	}
	if len(m.Alerts) != 5 || m.TruncatedAlerts != 1 {
		t.Errorf("Notify changed its message: %d alerts, truncated %d", len(m.Alerts), m.TruncatedAlerts)
	}
}

func TestNoData(t *testing.T) {
	n := notifier(t, &Config{URL: "http://127.0.0.1:1"})
	for _, m := range []*message.Message{nil, {}} {
		if retry, err := n.Notify(context.Background(), m); retry || err == nil {
			t.Errorf("%v: retry=%v err=%v", m, retry, err)
		}
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
