package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The secrets a daemon is given, each distinct, to be looked for in every
// answer and the log.
var planted = map[string]string{
	"webhook path":    "deadPATH-TOKEN-22",
	"webhook query":   "deadQ-SECRET-33",
	"webhook header":  "hdr-VALUE-44",
	"webhook secret":  "hmac-KEY-55",
	"feishu url":      "feishu-BOT-TOKEN-66",
	"feishu secret":   "feishu-SIGN-77",
	"smtp password":   "smtp-PASS-88",
	"config url":      "cfgPATH-TOKEN-99",
	"config secret":   "cfg-HMAC-11",
	"ingest token":    "ingest-BEARER-12",
	"remote header":   "rw-HEADER-13",
	"remote password": "rw-PASS-14",
	"remote bearer":   "rw-BEARER-15",
}

// TestNoSecretInAnyAnswer gives the daemon channels whose URLs carry
// tokens in their path and query (as many webhook providers do), headers,
// signing secrets and an SMTP password, then asks every read endpoint with
// an admin and a read token, makes each channel fail a test send, and
// greps every answer and the log for each secret. On the commit before it
// /admin/alert-channels returned webhook URLs whole, to a read token too.
func TestNoSecretInAnyAnswer(t *testing.T) {
	t.Parallel()
	// A destination that fails, echoing the request line, as a careless
	// server's error page does.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cannot "+r.Method+" "+r.URL.String()+" "+r.Header.Get("X-Auth"), http.StatusBadRequest)
	}))
	t.Cleanup(echo.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	// remote_write to the echo too: Prometheus's queue logs the answer
	// of a receiver that refuses a batch.
	remoteWrite := jobConfig("gateway", target(t)) + `remote_write:
  - url: ` + echo.URL + `/api/v1/write
    headers: {X-Auth: ` + planted["remote header"] + `}
    basic_auth: {username: gw, password: ` + planted["remote password"] + `}
  - url: ` + echo.URL + `/other/write
    authorization: {credentials_file: rw.token}
`
	writeConfig(t, cfg, accessConfig(t, dir, allTokens, "  auth: {bearer_token_file: sender.token}\n",
		`      webhook_configs: [{url: "`+echo.URL+`/hook/`+planted["config url"]+`", secret_file: cfg.secret}]
`)+remoteWrite)
	for name, v := range map[string]string{"cfg.secret": planted["config secret"], "sender.token": planted["ingest token"], "rw.token": planted["remote bearer"]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))

	admin := func(method, path, body string) (int, string) {
		t.Helper()
		resp, b := d.send(method, path, body, tokAdmin)
		return resp.StatusCode, string(b)
	}
	channels := map[string]string{
		"webhook": `{"url": "` + echo.URL + `/path/` + planted["webhook path"] + `?k=` + planted["webhook query"] + `",
			"headers": {"X-Auth": "` + planted["webhook header"] + `"}, "secret": "` + planted["webhook secret"] + `"}`,
		"feishu": `{"url": "` + echo.URL + `/open-apis/bot/v2/hook/` + planted["feishu url"] + `", "secret": "` + planted["feishu secret"] + `"}`,
		"email": `{"to": "ops@example.com", "from": "gw@example.com", "smarthost": "` + freeAddr(t) + `",
			"auth_username": "gw", "auth_password": "` + planted["smtp password"] + `", "require_tls": false}`,
	}
	var answers []string
	for typ, config := range channels {
		code, body := admin("POST", "/admin/alert-channels", `{"name": "`+typ+`-api", "type": "`+typ+`", "config": `+config+`}`)
		if code != http.StatusCreated {
			t.Fatalf("create %s channel: %d %s", typ, code, body)
		}
		answers = append(answers, body)
		var ch struct {
			ID     int64           `json:"id"`
			Config json.RawMessage `json:"config"`
		}
		_ = json.Unmarshal([]byte(body), &ch)
		_, test := admin("POST", "/admin/alert-channels/"+strconv.FormatInt(ch.ID, 10)+"/test", "")
		answers = append(answers, test)
		// The edit round trip: what a GET showed, sent back, keeps the
		// stored secrets (the test send below still reaches the echo).
		code, upd := admin("PUT", "/admin/alert-channels/"+strconv.FormatInt(ch.ID, 10), `{"name": "`+typ+`-api", "type": "`+typ+`", "config": `+string(ch.Config)+`}`)
		if code != http.StatusOK {
			t.Errorf("round trip of the %s channel's redacted config: %d %s", typ, code, upd)
		}
		answers = append(answers, upd)
	}
	if !strings.Contains(strings.Join(answers, "\n"), echo.URL[len("http://"):]+`/\u003csecret\u003e"`) {
		t.Errorf("a webhook URL is not shown as its origin: %s", answers)
	}
	// An alert to the config channel fails at the echo: its error is in
	// the outbox and, after the last retry, the history.
	if resp, b := d.send("POST", "/api/v2/alerts", `[{"labels":{"alertname":"Leak"}}]`, planted["ingest token"]); resp.StatusCode != http.StatusOK {
		t.Fatalf("post: %s %s", resp.Status, b)
	}
	d.eventually("the config channel's failure recorded", func() bool {
		_, body := admin("GET", "/admin/alert-history?status=failed", "")
		return strings.Contains(body, `"failed"`)
	})
	d.eventually("remote_write refused by the echo", func() bool {
		return d.metricSum("prometheus_remote_storage_samples_failed_total") > 0
	})
	for _, e := range endpoints() {
		if e.method != "GET" || strings.HasPrefix(e.path, "/debug/pprof/") && e.path != "/debug/pprof/" {
			continue
		}
		for _, tok := range []string{tokAdmin, tokRead} {
			_, b := d.send("GET", e.path, "", tok)
			answers = append(answers, e.path+": "+string(b))
		}
	}
	time.Sleep(100 * time.Millisecond) // the last log lines of the requests
	answers = append(answers, "log: "+d.logs.String())
	for what, secret := range planted {
		for _, a := range answers {
			if i := strings.Index(a, secret); i >= 0 {
				t.Errorf("the %s appears: …%s…", what, a[max(0, i-80):min(len(a), i+40)])
				break
			}
		}
	}
	d.stop()
}
