package gatewaysim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSinksCheckSignatures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	o := DefaultOptions()
	o.SinkSecret, o.Now = "s3", func() time.Time { return now }
	sim, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	post := func(path, body string, h map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	body := `{"version":"4"}`
	mac := hmac.New(sha256.New, []byte("s3"))
	mac.Write([]byte("1800000000." + body))
	if code, _ := post("/sim/webhook", body, map[string]string{"X-Gatewarden-Timestamp": "1800000000", "X-Gatewarden-Signature": hex.EncodeToString(mac.Sum(nil))}); code != http.StatusNoContent {
		t.Fatalf("signed webhook: %d", code)
	}
	if code, _ := post("/sim/webhook", body, map[string]string{"X-Gatewarden-Timestamp": "1800000000", "X-Gatewarden-Signature": "00"}); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", code)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	fm := hmac.New(sha256.New, []byte(ts+"\n"+"s3"))
	sign := base64.StdEncoding.EncodeToString(fm.Sum(nil))
	if _, out := post("/sim/feishu/tok", `{"timestamp":"`+ts+`","sign":"`+sign+`","msg_type":"text"}`, nil); !strings.Contains(out, `"code":0`) {
		t.Fatalf("feishu: %s", out)
	}
	if _, out := post("/sim/feishu/tok", `{"timestamp":"`+ts+`","sign":"nope"}`, nil); !strings.Contains(out, `"code":19021`) {
		t.Fatalf("feishu bad sign: %s", out)
	}
	got := sim.Notifications()
	if len(got) != 4 || !got[0].Verified || got[1].Verified || !got[2].Verified || got[3].Verified {
		t.Fatalf("notifications: %+v", got)
	}
}
