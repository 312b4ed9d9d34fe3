package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("scrape_configs:\n  - job_name: gw\n    static_configs: [{targets: ['127.0.0.1:9300']}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("global:\n  scrape_interval: 10s\n  evaluation_intervall: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "config", good}, &out, &errOut); code != 0 {
		t.Fatalf("good config: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "SUCCESS: 1 scrape configs") {
		t.Errorf("output: %s", out.String())
	}
	out.Reset()
	if code := run([]string{"check", "config", good, bad}, &out, &errOut); code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	if want := bad + ":3:3: unknown field \"evaluation_intervall\""; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
	if code := run([]string{"check", "nothing"}, &out, &errOut); code != 2 {
		t.Errorf("bad usage: exit %d, want 2", code)
	}
}

// A secret file that is not there fails the check at its file:line, not the
// first send after startup.
func TestCheckConfigMissingSecretFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gw.yml")
	yml := "receiver:\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: http://127.0.0.1:1/h\n          secret_file: hook.secret\n  route: {receiver: hook}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "config", cfg}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, out.String())
	}
	want := cfg + ":6:24: secret_file: open " + filepath.Join(dir, "hook.secret") + ": no such file or directory"
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
	if err := os.WriteFile(filepath.Join(dir, "hook.secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("with the file: exit %d: %s", code, errOut.String())
	}
}
