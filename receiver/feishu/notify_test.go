package feishu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

func TestSignKnownVector(t *testing.T) {
	// Computed with openssl: key "1599360473\nsecret-abc", empty message.
	if got, want := Sign("1599360473", "secret-abc"), "bXFFfwiTC99s1hsjv1g7FqtMp9Xq5I6UrChC4iH756o="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestNotifySigned(t *testing.T) {
	s := newStandIn(t, "s3cr3t-signing-key")
	c := newClock()
	retry, err := notifier(t, s, Config{}, c).Notify(context.Background(), msg(2, "firing", "critical", "en"))
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	body := s.last()
	if got, want := body["timestamp"], strconv.FormatInt(c.Now().Unix(), 10); got != want {
		t.Errorf("timestamp %v, want %v (the injected clock)", got, want)
	}
	if body["msg_type"] != "interactive" || body["sign"] == "" {
		t.Errorf("body: %v", body)
	}
}

func TestNotifyUnsigned(t *testing.T) {
	s := newStandIn(t, "")
	if _, err := notifier(t, s, Config{}, newClock()).Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
		t.Fatal(err)
	}
	if body := s.last(); body["sign"] != nil || body["timestamp"] != nil {
		t.Errorf("a bot without a secret got a signature: %v", body)
	}
}

func TestSignatureRejected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		skew   time.Duration
	}{
		{"bad secret", "not-the-secret", 0},
		{"timestamp over an hour old", "", -61 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStandIn(t, "the-real-secret")
			c := newClock()
			n := notifier(t, s, Config{Secret: commoncfg.Secret(tc.secret)}, c)
			srvNow := c.Now().Add(-tc.skew)
			s.now = func() time.Time { return srvNow }
			retry, err := n.Notify(context.Background(), msg(1, "firing", "critical", "en"))
			var apiErr *APIError
			if retry || !errors.As(err, &apiErr) || apiErr.Code != CodeSignMismatch {
				t.Fatalf("Notify = %v, %v; want permanent 19021", retry, err)
			}
			if !strings.Contains(err.Error(), "sign match fail") {
				t.Errorf("error lacks Feishu's msg: %v", err)
			}
			for _, secret := range []string{"not-the-secret", "the-real-secret", s.token} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks %q: %v", secret, err)
				}
			}
		})
	}
}

func TestKeywordRejected(t *testing.T) {
	s := newStandIn(t, "k")
	s.keyword = "no-such-keyword"
	retry, err := notifier(t, s, Config{}, newClock()).Notify(context.Background(), msg(1, "firing", "", "en"))
	var apiErr *APIError
	if retry || !errors.As(err, &apiErr) || apiErr.Code != CodeKeywordMismatch {
		t.Fatalf("Notify = %v, %v; want permanent 19024", retry, err)
	}
}

func TestResponses(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		retry  bool
		ok     bool
		in     string // in the error
	}{
		{200, respSuccess, false, true, ""},
		{200, `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`, false, true, ""},
		{200, respTooMany, true, false, "code 9499: too many request"},
		{400, `{"code":11232,"data":{},"msg":"frequency limited"}`, true, false, "code 11232"},
		{200, `{"code":11233,"data":{},"msg":"frequency limited"}`, true, false, "code 11233"},
		{429, `rate limited`, true, false, "HTTP 429"},
		{500, `<html>oops</html>`, true, false, "HTTP 500"},
		{502, `{"code":1,"msg":"upstream"}`, true, false, "code 1: upstream"},
		{503, respSignFail, false, false, "code 19021"},
		{200, respKeyword, false, false, "code 19024: Key Words Not Found"},
		{200, `{"StatusCode":19021,"StatusMessage":"sign match fail"}`, false, false, "code 19021: sign match fail"},
		{400, `{"code":9499,"data":{},"msg":"Bad Request"}`, false, false, "code 9499"},
		{400, `{"code":19002,"data":{},"msg":"params error"}`, false, false, "code 19002: params error"},
		{200, `not json`, false, false, "HTTP 200"},
		{200, `{}`, false, false, "without Feishu's code"},
		{404, ``, false, false, "HTTP 404"},
		{302, ``, false, false, "HTTP 302"},
		{403, `{"code":0,"msg":"success"}`, false, false, "HTTP 403"},
	} {
		t.Run(strconv.Itoa(tc.status)+" "+tc.body, func(t *testing.T) {
			s := newStandIn(t, "k")
			s.reply = func(w http.ResponseWriter) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}
			retry, err := notifier(t, s, Config{}, newClock()).Notify(context.Background(), msg(1, "firing", "", "en"))
			if retry != tc.retry || (err == nil) != tc.ok {
				t.Fatalf("Notify = %v, %v; want retry=%v ok=%v", retry, err, tc.retry, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.in) {
				t.Errorf("error %q lacks %q", err, tc.in)
			}
			if err != nil && strings.Contains(err.Error(), s.token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

// A refusal for rate makes the next send of the process wait, as long as
// Retry-After says.
func TestRateRefusalPauses(t *testing.T) {
	s := newStandIn(t, "k")
	refuse := true
	s.reply = func(w http.ResponseWriter) {
		if refuse {
			w.Header().Set("Retry-After", "3")
			io.WriteString(w, respTooMany)
			return
		}
		io.WriteString(w, respSuccess)
	}
	c := newClock()
	n := notifier(t, s, Config{}, c)
	if retry, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); !retry || err == nil {
		t.Fatalf("Notify = %v, %v; want a retry", retry, err)
	}
	refuse = false
	if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
		t.Fatal(err)
	}
	if got := c.sleeps(); len(got) != 1 || got[0] != 3*time.Second {
		t.Errorf("slept %v, want [3s]", got)
	}
}

func TestTransportErrorsRedacted(t *testing.T) {
	s := newStandIn(t, "transport-signing-secret")
	c := newClock()

	t.Run("connection refused", func(t *testing.T) {
		n := notifier(t, s, Config{}, c)
		host := s.srv.URL
		s.srv.Close()
		retry, err := n.Notify(context.Background(), msg(1, "firing", "", "en"))
		checkRedacted(t, retry, err, host, s.token, s.secret)
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer hang.Close()
		defer close(release)
		u := hang.URL + "/open-apis/bot/v2/hook/" + s.token + "?q=" + s.token
		n := notifier(t, s, Config{URL: commoncfg.Secret(u), Timeout: yamlfile.Duration(50 * time.Millisecond)}, c)
		retry, err := n.Notify(context.Background(), msg(1, "firing", "", "en"))
		checkRedacted(t, retry, err, hang.URL, s.token, s.secret)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
	})
}

func checkRedacted(t *testing.T, retry bool, err error, host string, secrets ...string) {
	t.Helper()
	if !retry || err == nil {
		t.Fatalf("Notify = %v, %v; want a retry", retry, err)
	}
	if !strings.Contains(err.Error(), "post "+host+":") {
		t.Errorf("error %q does not name %s", err, host)
	}
	for _, leak := range append(secrets, "/open-apis/bot/v2/hook") {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error leaks %q: %v", leak, err)
		}
	}
}

func TestFilesReadAtSend(t *testing.T) {
	s := newStandIn(t, "first-secret")
	dir := t.TempDir()
	urlFile, secretFile := filepath.Join(dir, "url"), filepath.Join(dir, "secret")
	write := func(path, v string) {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(urlFile, s.URL())
	write(secretFile, "first-secret")
	n := notifier(t, s, Config{URLFile: urlFile, SecretFile: secretFile}, newClock())
	if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
		t.Fatal(err)
	}
	// Rotated on disk: the next send signs with the new secret, no reload.
	s.secret = "second-secret"
	write(secretFile, "second-secret")
	if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
		t.Fatal(err)
	}
	os.Remove(urlFile)
	retry, err := n.Notify(context.Background(), msg(1, "firing", "", "en"))
	if retry || err == nil || !strings.Contains(err.Error(), "url_file") {
		t.Fatalf("Notify = %v, %v; want a permanent url_file error", retry, err)
	}
	write(urlFile, "ftp://"+s.token)
	if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err == nil || strings.Contains(err.Error(), s.token) {
		t.Fatalf("bad url_file content: %v", err)
	}
}

func TestEmptyMessage(t *testing.T) {
	s := newStandIn(t, "k")
	if retry, err := notifier(t, s, Config{}, newClock()).Notify(context.Background(), nil); retry || err == nil {
		t.Fatalf("Notify(nil) = %v, %v", retry, err)
	}
}

// Whatever layer quotes the URL, the text reported names the host only.
func TestRedactScrubsInnerErrors(t *testing.T) {
	u, _ := url.Parse("https://open.feishu.cn/open-apis/bot/v2/hook/tok-4f1e?x=tok-4f1e")
	inner := fmt.Errorf("proxy refused %s (path %s)", u, u.Path)
	err := redact(&url.Error{Op: "Post", URL: u.String(), Err: inner}, u)
	if strings.Contains(err.Error(), "tok-4f1e") || !strings.HasPrefix(err.Error(), "feishu: post https://open.feishu.cn: proxy refused") {
		t.Errorf("redact = %q", err)
	}
	if !errors.Is(err, inner) {
		t.Error("the inner error is not wrapped")
	}
}
