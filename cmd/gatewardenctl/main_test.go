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
