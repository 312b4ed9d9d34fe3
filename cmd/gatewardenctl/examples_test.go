package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExamplesCheck keeps the shipped example configs loadable: each is
// copied with the secret files it names (made up here) and checked as an
// operator would.
func TestExamplesCheck(t *testing.T) {
	for _, name := range []string{"demo.yml", "receiver.yml"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("../../examples", name))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, m := range regexp.MustCompile(`_file: (\S+)`).FindAllStringSubmatch(string(src), -1) {
				p := filepath.Join(dir, m[1])
				os.MkdirAll(filepath.Dir(p), 0o755)
				content := "secret-value"
				if strings.HasSuffix(p, ".url") {
					content = "https://hooks.example.com/x"
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := filepath.Join(dir, name)
			if err := os.WriteFile(cfg, src, 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := run([]string{"check", "config", cfg}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
		})
	}
}
