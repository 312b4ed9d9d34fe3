package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `global:
  scrape_interval: 15s
  external_labels:
    site: lab
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ["127.0.0.1:9300"]
        labels: {env: demo}
    metric_relabel_configs:
      - source_labels: [code]
        regex: "5.."
        target_label: error
        replacement: "true"
    basic_auth:
      username: u
      password_file: secrets/pw
  - job_name: other
    scrape_interval: 5s
    file_sd_configs:
      - files: [targets/*.json]
rule_files: [rules/*.yml]
`

func TestLoadDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "secrets/pw", "pw\n")
	cfg, err := Load([]byte(good), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if time.Duration(g.ScrapeInterval) != 15*time.Second || time.Duration(g.ScrapeTimeout) != 10*time.Second || time.Duration(g.EvaluationInterval) != DefaultEvaluationInterval {
		t.Errorf("global defaults: %+v", g)
	}
	gw, other := cfg.ScrapeConfigs[0], cfg.ScrapeConfigs[1]
	if gw.MetricsPath != "/metrics" || gw.Scheme != "http" || time.Duration(gw.ScrapeInterval) != 15*time.Second || gw.BodySizeLimit != DefaultBodySizeLimit {
		t.Errorf("scrape defaults: %+v", gw)
	}
	// A job interval below the global timeout caps the timeout, as in Prometheus.
	if time.Duration(other.ScrapeTimeout) != 5*time.Second {
		t.Errorf("timeout = %s, want capped at the job's 5s interval", other.ScrapeTimeout)
	}
	if gw.BasicAuth.PasswordFile != filepath.Join(dir, "secrets/pw") || cfg.RuleFiles[0] != filepath.Join(dir, "rules/*.yml") || other.FileSDConfigs[0].Files[0] != filepath.Join(dir, "targets/*.json") {
		t.Errorf("relative paths not anchored at the config dir: %q %q %q", gw.BasicAuth.PasswordFile, cfg.RuleFiles[0], other.FileSDConfigs[0].Files[0])
	}
	if len(gw.MetricRelabeling()) != 1 || gw.MetricRelabeling()[0].Separator != ";" {
		t.Errorf("metric relabeling not compiled with defaults: %+v", gw.MetricRelabeling())
	}
	if cfg.Runtime.GOGC != DefaultGOGC {
		t.Errorf("runtime gogc = %d, want %d", cfg.Runtime.GOGC, DefaultGOGC)
	}
	if time.Duration(other.FileSDConfigs[0].RefreshInterval) != DefaultFileSDRefresh || time.Duration(cfg.Storage.Retention) != DefaultRetention {
		t.Error("file_sd refresh or retention default missing")
	}
}

func TestLoadErrorsAreLocated(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"unknown key", "global:\n  scrape_intervall: 10s\n", []string{"f.yml:2:3: unknown field \"scrape_intervall\""}},
		{"wrong type", "scrape_configs:\n  - job_name: a\n    sample_limit: lots\n", []string{"f.yml:3:19: cannot unmarshal !!str into uint"}},
		{"bad duration", "global:\n  scrape_interval: 10x\n", []string{"f.yml:2:20: invalid duration \"10x\""}},
		{"bad size", "scrape_configs:\n  - job_name: a\n    body_size_limit: huge\n", []string{"f.yml:3:22: invalid size \"huge\""}},
		{"all errors at once", "global:\n  nope: 1\nstorage:\n  retention: x\n", []string{"f.yml:2:3: unknown field \"nope\"", "f.yml:4:14: invalid duration"}},
		{"syntax", "global:\n  scrape_interval: [\n", []string{"f.yml:2: did not find expected node content"}},
		{"timeout over interval", "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n", []string{"f.yml:4:21: scrape_timeout 6s is greater than scrape_interval 5s"}},
		{"duplicate job", "scrape_configs:\n  - job_name: a\n  - job_name: a\n", []string{"f.yml:3:15: job_name \"a\" is used by an earlier scrape config"}},
		{"missing job name", "scrape_configs:\n  - scheme: http\n", []string{"f.yml:2:5: job_name is required"}},
		{"bad regex", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: \"(\"\n", []string{"f.yml:4:9: invalid regex \"(\""}},
		{"target with scheme", "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://x:1\"]\n", []string{"f.yml:4:19: target \"http://x:1\" must be host:port"}},
		{"two secrets", "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n", []string{"f.yml:3:17: basic_auth: at most one of password and password_file"}},
		{"negative gogc", "runtime:\n  gogc: -5\n", []string{"f.yml:2:9: runtime gogc must be positive"}},
		{"type error in a flow mapping", "scrape_configs:\n  - job_name: a\n    tls_config: {server_name: x, insecure_skip_verify: maybe}\n", []string{"f.yml:3:56: cannot unmarshal !!str into bool"}},
		{"missing ca file", "scrape_configs:\n  - job_name: a\n    tls_config: {ca_file: /nonexistent/ca.pem}\n", []string{"f.yml:3:27: tls_config ca_file: open /nonexistent/ca.pem: no such file or directory"}},
		{"missing password file", "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password_file: /nonexistent/pw}\n", []string{"f.yml:3:46: basic_auth password_file: open /nonexistent/pw: no such file or directory"}},
		{"bad label", "global:\n  external_labels: {__x: y}\n", []string{"f.yml:2:26: invalid label name \"__x\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yml), "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			expectErrors(t, err, tc.want)
		})
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	for _, yml := range []string{
		"scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2, password_file: f}\n",
		"scrape_configs:\n  - job_name: a\n    basic_auth: hunter2\n", // a secret where a mapping belongs
	} {
		_, err := Load([]byte(yml), "f.yml")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error must exist and not contain the secret: %v", err)
		}
	}
}

func TestReservedTargetLabelsAllowed(t *testing.T) {
	if _, err := Load([]byte("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1'], labels: {__scheme__: https, __param_module: x}}]\n"), "f.yml"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFileAndEmpty(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Error("missing file must fail")
	}
	p := filepath.Join(t.TempDir(), "empty.yml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(p)
	if err != nil || cfg.File() != p || time.Duration(cfg.Global.ScrapeInterval) != DefaultScrapeInterval {
		t.Fatalf("empty config: %v %+v", err, cfg)
	}
}

func TestRuleFilesAbsentOrEmpty(t *testing.T) {
	absent, err := Load([]byte("global: {}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Load([]byte("rule_files: []\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	// The evaluator loads its built-in pack for an absent key only.
	if absent.RuleFiles != nil || empty.RuleFiles == nil {
		t.Errorf("absent: %#v, empty: %#v", absent.RuleFiles, empty.RuleFiles)
	}
}

// expectErrors checks one error line per want, each starting with it.
func expectErrors(t *testing.T, err error, want []string) {
	t.Helper()
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}
