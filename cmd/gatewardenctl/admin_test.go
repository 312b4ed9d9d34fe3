package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/api"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// TestAdmin runs the admin commands against the real admin API and store.
func TestAdmin(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(context.Background(), store.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tokenFile := filepath.Join(dir, "admin.token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	cfg, err := config.Load([]byte("api:\n  tokens: [{token_file: admin.token, role: admin}]\n"), filepath.Join(dir, "gw.yml"))
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Options{Store: s})
	a.ApplyConfig(cfg)
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	al, err := s.UpsertAlert(context.Background(), store.Alert{Fingerprint: "f1", Type: "budget", Severity: "warning", Title: "m1 at 75%"})
	if err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"admin", "--server", srv.URL, "--token-file", tokenFile}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, _ := ctl("alerts"); code != 0 || !strings.Contains(out, "active") || !strings.Contains(out, "m1 at 75%") {
		t.Fatalf("alerts: %d %q", code, out)
	}
	if code, _, errOut := ctl("ack", "1", "--by", "alice"); code != 0 {
		t.Fatalf("ack: %d %s", code, errOut)
	}
	// A second ack changes nothing, as in ez-api.
	if code, _, errOut := ctl("ack", "1", "--by", "bob"); code != 0 {
		t.Fatalf("second ack: %d %q", code, errOut)
	}
	if code, out, _ := ctl("stats"); code != 0 || !strings.Contains(out, "acknowledged 1") {
		t.Fatalf("stats: %d %q", code, out)
	}
	if code, _, _ := ctl("resolve", "1"); code != 0 {
		t.Fatal("resolve failed")
	}
	if got, _ := s.GetAlert(context.Background(), al.ID); got.Status != "resolved" || got.AckedBy != "alice" {
		t.Fatalf("stored: %+v", got)
	}
	// Going back is refused: a resolved alert is not acknowledged again.
	if code, _, errOut := ctl("ack", "1", "--by", "bob"); code != 1 || !strings.Contains(errOut, "409 Conflict: alert 1 is resolved") {
		t.Fatalf("ack of a resolved alert: %d %q", code, errOut)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"admin", "--server", srv.URL, "alerts"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") {
		t.Fatalf("without token: %d %q", code, errOut.String())
	}
}
