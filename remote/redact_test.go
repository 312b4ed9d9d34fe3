package remote

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/config"
)

// TestRedactorHidesEveryCredential logs what a careless receiver's answer
// could hold — each credential of the remote_write section, the basic auth
// header as sent, a secret that starts another — through the handler the
// queues log with, and greps the output.
func TestRedactorHidesEveryCredential(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("file-PASSWORD-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-TOKEN-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(`remote_write:
  - url: http://user:url-PASSWORD-3@x/write
    headers: {X-Api-Key: header-KEY-4, X-Other: header-KEY-4-longer}
    basic_auth: {username: gw, password_file: pw}
  - url: http://y/write
    authorization: {credentials_file: token}
  - url: http://z/write
    authorization: {credentials: inline-TOKEN-5}
`), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := newRedactor(slog.NewTextHandler(&out, nil))
	r.learn(cfg.RemoteWriteConfigs)
	basic := base64.StdEncoding.EncodeToString([]byte("gw:file-PASSWORD-1"))
	secrets := []string{"file-PASSWORD-1", "file-TOKEN-2", "url-PASSWORD-3", "header-KEY-4", "header-KEY-4-longer", "inline-TOKEN-5", basic}
	answer := "server returned HTTP status 400: " + strings.Join(secrets, " ") + " Basic " + basic
	logger := slog.New(r).With("url", "http://user:url-PASSWORD-3@x/write")
	logger.Error("non-recoverable error "+secrets[1], "err", errors.New(answer), "group", slog.GroupValue(slog.String("body", answer)), "at", time.Unix(0, 0))
	for _, s := range secrets {
		if strings.Contains(out.String(), s) {
			t.Errorf("%q in the log: %s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "<secret>") || strings.Contains(out.String(), "-longer") {
		t.Errorf("log line: %s", out.String())
	}
	// A later config's credentials are hidden too, and the earlier ones
	// stay hidden: queues of the earlier config may still be logging.
	cfg2, _ := config.Load([]byte("remote_write:\n  - url: http://w/\n    headers: {X-Api-Key: next-KEY-6}\n"), "")
	r.learn(cfg2.RemoteWriteConfigs)
	out.Reset()
	slog.New(r).Info("answer: next-KEY-6 inline-TOKEN-5")
	if strings.Contains(out.String(), "next-KEY-6") || strings.Contains(out.String(), "inline-TOKEN-5") {
		t.Errorf("after a reload: %s", out.String())
	}
}
