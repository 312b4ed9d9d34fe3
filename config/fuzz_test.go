package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/receiver/route"
	"github.com/gatewarden/gatewarden/throttle"
	"gopkg.in/yaml.v3"
)

// fuzzConfigSeeds are the configs config's tests load, good and bad.
var fuzzConfigSeeds = []string{
	// config_test.go
	"global:\n  scrape_interval: 15s\n  external_labels:\n    site: lab\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: [\"127.0.0.1:9300\"]\n        labels: {env: demo}\n    metric_relabel_configs:\n      - source_labels: [code]\n        regex: \"5..\"\n        target_label: error\n        replacement: \"true\"\n    basic_auth:\n      username: u\n      password_file: secrets/pw\n  - job_name: other\n    scrape_interval: 5s\n    file_sd_configs:\n      - files: [targets/*.json]\nrule_files: [rules/*.yml]\n",
	"global:\n  scrape_intervall: 10s\n", "scrape_configs:\n  - job_name: a\n    sample_limit: lots\n", "global:\n  scrape_interval: 10x\n",
	"scrape_configs:\n  - job_name: a\n    body_size_limit: huge\n", "global:\n  nope: 1\nstorage:\n  retention: x\n", "global:\n  scrape_interval: [\n",
	"scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n", "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
	"scrape_configs:\n  - scheme: http\n", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: \"(\"\n",
	"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://x:1\"]\n",
	"scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n", "runtime:\n  gogc: -5\n",
	"scrape_configs:\n  - job_name: a\n    tls_config: {server_name: x, insecure_skip_verify: maybe}\n", "global:\n  external_labels: {__x: y}\n",
	"scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1'], labels: {__scheme__: https, __param_module: x}}]\n",
	"global: {}\n", "rule_files: []\n", "{}", "",
	// alerting_test.go, api_test.go
	"alerting:\n  alertmanagers:\n    - static_configs: [{targets: [\"am1:9093\", \"am2:9093\"]}]\n      basic_auth: {username: gw, password_file: /run/secrets/am}\n    - static_configs: [{targets: [\"am3:9093\"]}]\n      scheme: https\n      timeout: 3s\n      authorization: {credentials_file: /run/secrets/token}\n",
	"alerting:\n  alertmanagers:\n    - static_configs: [{targets: [\"am:9093\"]}]\n      api_version: v1\n", "alerting:\n  alertmanagers:\n    - ~\n",
	"api:\n  tokens:\n    - {token_file: admin.token, role: admin}\n    - {token_file: read.token, role: read}\n", "api:\n  tokens:\n    - {role: root}\n",
	"storage:\n  database_url: mysql://user:hunter2@db/gw\n", "storage:\n  database_url_file: db.url\n",
	// receiver_test.go
	"receiver:\n  templates: [templates/*.tmpl]\n  external_url: https://gatewarden.example.com\n  auth:\n    bearer_token_file: ingest.token\n  receivers:\n    - name: default\n      email_configs:\n        - to: ops@example.com\n          from: gatewarden@example.com\n          smarthost: smtp.example.com:587\n          auth_username: gatewarden\n          auth_password_file: smtp.pw\n    - name: oncall\n      feishu_configs:\n        - url_file: feishu.url\n          secret_file: feishu.secret\n          mentions: [ou_abc]\n    - name: billing\n      channels: [billing-feishu]\n    - name: webhook\n      webhook_configs:\n        - url_file: hook.url\n          headers: {X-Team: gateway}\n  route:\n    receiver: default\n    group_by: [alertname, master]\n    routes:\n      - matchers: ['severity=\"critical\"']\n        receiver: oncall\n        group_wait: 10s\n        continue: true\n      - match:\n          team: billing\n        match_re:\n          model: 'gpt-4.*|claude-.*'\n        receiver: billing\n        group_by: ['...']\n        routes:\n          - matchers: ['env!~\"dev|test\"', 'code=~\"5..\"']\n            receiver: oncall\n            repeat_interval: 1h\n            mute_time_intervals: [nights]\n      - matchers: ['\"service.name\"=\"gateway\"']\n        receiver: webhook\n        cooldown: 0s\n        active_time_intervals: [office]\n  time_intervals:\n    - name: nights\n      time_intervals:\n        - times: [{start_time: '00:00', end_time: '07:00'}]\n          location: Asia/Shanghai\n    - name: office\n      time_intervals:\n        - weekdays: ['monday:friday']\n          months: [january:june]\n  inhibit_rules:\n    - source_matchers: ['severity=\"critical\"']\n      target_matchers: ['severity=\"warning\"']\n      equal: [alertname, master]\n",
	"receiver:\n  receivers: [{name: r}]\n  route:\n    receiver: r\n    routes:\n      - matchers: [a=b, 'c=~\"(\"']\n",
	"receiver:\n  receivers: [{name: r}]\n  route:\n    receiver: r\n    group_by: ['...', a]\n",
	"receiver:\n  receivers: [{name: r}]\n  route:\n    receiver: r\n    routes:\n      - {group_interval: 0s, repeat_interval: 0s}\n",
	"receiver:\n  receivers: [{name: r}]\n  route:\n    receiver: r\n  auth: {basic_auth: {username: u, password: hunter2}}\n",
	"receiver:\n  receivers:\n    - name: r\n      feishu_configs:\n        - {url: https://open.feishu.cn/x, mentions: [all], language: fr}\n        - {}\n  route:\n    receiver: r\n",
	// throttle_test.go
	"throttle:\n  gateway:\n    url: https://gw.internal\n    timeout: 2s\n    max_attempts: 4\n    verify: gauge\n    authorization: {credentials_file: gw.token}\n  workers: 4\n  rule: MyCPU\n  action: {max_concurrency: 8, min_concurrency: 2, step_ratio: 0.25}\n  ttl: 15m\n  exempt:\n    - {tenant_id: vip-*}\n    - {plugin_id: \"*-billing\", instance_id: i1}\n  overrides:\n    - tenant_id: t1\n      action: {max_concurrency_ratio: 0.25}\n      ttl: 5m\n  blast_radius: {max_instances: 50, max_plugin_ratio: 0.5}\n  dry_run: true\n",
	"throttle:\n  gateway: {url: 'http://gw'}\n  ttl: 1m\n  renew_before: 2m\n  recovery_threshold: 1.2\n  max_steps: 0\n",
	"throttle:\n  gateway: {url: 'http://gw'}\n  exempt:\n    - {}\n    - {tenant_id: '['}\n  overrides:\n    - {plugin_id: p1, ttl: 1m, action: {max_concurrency: -1}}\n",
}

// FuzzLoad loads any gatewarden.yml. It may be refused, but only with
// located errors (file:line: message, as the package's tests expect),
// and a config that loads must start: its route tree builds and its
// throttle policy validates as the daemon builds them.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzConfigSeeds {
		f.Add([]byte(s))
	}
	// The seeds' secret files, so that the realistic configs load.
	dir := f.TempDir()
	for _, name := range []string{"ingest.token", "smtp.pw", "feishu.url", "feishu.secret", "hook.url", "gw.token", "admin.token", "read.token", "db.url"} {
		content := "s3cret\n"
		if name == "db.url" {
			content = "postgres://db/gw\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	path := filepath.Join(dir, "gatewarden.yml")

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Load(data, path)
		if err != nil {
			checkLocated(t, err, path, data)
			return
		}
		if rc := cfg.Receiver; rc != nil {
			if _, err := route.New(rc.Route, rc.CooldownOrDefault()); err != nil {
				t.Fatalf("loaded, but its route tree does not build: %v", err)
			}
		}
		if tc := cfg.Throttle; tc != nil {
			if _, err := throttle.NewPolicy(tc.ThrottlePolicy); err != nil {
				t.Fatalf("loaded, but its throttle policy does not validate: %v", err)
			}
		}
	})
}

var (
	yamlLine    = regexp.MustCompile(`^yaml: line \d+: `)
	yamlExcerpt = regexp.MustCompile("!![a-z]+ `")
)

// checkLocated holds err to the loader's promise: every problem is a
// yamlfile.Error of this file, at a line, and err's text is one
// "file:line[:col]: msg" line per problem. The one exception is a syntax
// error yaml.v3 itself gives no line for (a problem on the first line, a
// bad UTF-8 byte, an unknown anchor): the loader has no line to give yet,
// and failing on it would stop every run at the first unclosed quote.
func checkLocated(t *testing.T, err error, path string, data []byte) {
	t.Helper()
	var n yaml.Node
	unplaced := yaml.Unmarshal(data, &n)
	if unplaced != nil && !yamlLine.MatchString(unplaced.Error()) {
		return
	}
	var errs yamlfile.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error is not a located yamlfile.Errors: %T %v", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(errs) {
		t.Fatalf("%d errors on %d lines: %q", len(errs), len(lines), err)
	}
	for i, e := range errs {
		if e.File != path || e.Msg == "" || e.Line <= 0 || !strings.HasPrefix(lines[i], path+":") {
			t.Fatalf("error %d is not located: %+v (%q)", i, e, lines[i])
		}
		// The loader drops yaml.v3's excerpt of a mistyped value: it may
		// be a secret written in the wrong place.
		if yamlExcerpt.MatchString(e.Msg) {
			t.Fatalf("error %d quotes the value: %q", i, e.Msg)
		}
	}
}
