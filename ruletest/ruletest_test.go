package ruletest

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const ruleFile = `groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
      - alert: High
        expr: job:x:sum > 10
        for: 1m
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.job }} at {{ $value }}"}
      - alert: Steady
        expr: x
        condition: {function: all, window: "#2", op: ">", value: 10}
        levels:
          - {level: 2, value: 10}
          - {level: 1, value: 30}
      - alert: Waiting
        expr: time() - since > 0
        annotations: {summary: "{{ $value }}"}
`

// write puts the rule file and a test file into a fresh directory and
// returns the test file's path.
func write(t *testing.T, test string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"rules.yml": ruleFile, "test.yml": test} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "test.yml")
}

// failures runs a test file and returns its failures, one string each.
func failures(t *testing.T, test string, o Options) []string {
	t.Helper()
	res := RunFile(context.Background(), write(t, test), o)
	var out []string
	for _, e := range res.Failures {
		out = append(out, e.Error())
	}
	return out
}

const passing = `rule_files: [rules.yml]
evaluation_interval: 30s
tests:
  - name: high
    interval: 1m
    input_series:
      - {series: 'x{job="a", i="1"}', values: '5 8 12 20'}
      - {series: 'x{job="a", i="2"}', values: '1 1 1 1'}
    alert_rule_test:
      - eval_time: 2m
        alertname: High # pending since 2m
      - eval_time: 3m30s # checked at the 3m30s step, though nothing new came
        alertname: High
        exp_alerts:
          - exp_labels: {job: a, severity: warning}
            exp_annotations: {summary: "a at 21"}
      - eval_time: 3m
        alertname: Steady
        exp_alerts:
          - exp_labels: {job: a, i: "1", severity: warning}
    promql_expr_test:
      - expr: job:x:sum
        eval_time: 1m
        exp_samples:
          - {labels: 'job:x:sum{job="a"}', value: 9}
      - expr: vector(0.1) + 0.2
        eval_time: 0s
        exp_samples:
          - {labels: '{}', value: 0.3} # equal within 1e-9, not bit for bit
`

func TestPassingFile(t *testing.T) {
	var out bytes.Buffer
	file := write(t, passing)
	if !Run(context.Background(), &out, []string{file}, Options{}) {
		t.Fatalf("failed:\n%s", out.String())
	}
	if want := "Unit Testing: " + file + "\n  SUCCESS\n\n"; out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
}

// $value is the latest evaluation's, as in promtool, not the last send's:
// it fires at 1m30s, is sent every minute from then, and is checked
// between two sends.
func TestAnnotationsFollowEachEvaluation(t *testing.T) {
	test := `rule_files: [rules.yml]
evaluation_interval: 30s
tests:
  - interval: 1m
    input_series:
      - {series: since, values: '60x30'}
    alert_rule_test:
      - eval_time: 20m
        alertname: Waiting
        exp_alerts:
          - exp_annotations: {summary: "1140"}
`
	if got := failures(t, test, Options{}); len(got) > 0 {
		t.Fatal(got)
	}
}

func TestFailingAlertShowsBothSides(t *testing.T) {
	test := strings.Replace(passing, `{job: a, i: "1", severity: warning}`, `{job: a, i: "1", severity: critical}`, 1)
	got := failures(t, test, Options{})
	want := `    name: high,
    alertname: Steady, time: 3m, 
        exp:[
            0:
              Labels:{alertname="Steady", i="1", job="a", severity="critical"}
              Annotations:{}
            ], 
        got:[
            0:
              Labels:{alertname="Steady", i="1", job="a", severity="warning"}
              Annotations:{}
            ]`
	if len(got) != 1 || got[0] != want {
		t.Errorf("failures: %q\nwant: %q", got, want)
	}
}

func TestFailingPromQL(t *testing.T) {
	test := strings.Replace(passing, `value: 9}`, `value: 9.5}`, 1)
	test = strings.Replace(test, `expr: vector(0.1) + 0.2`, `expr: x + on(job) x`, 1)
	got := failures(t, test, Options{})
	want := []string{
		"    name: high,\n    expr: \"job:x:sum\", time: 1m,\n        exp: {__name__=\"job:x:sum\", job=\"a\"} 9.5E+00\n        got: {__name__=\"job:x:sum\", job=\"a\"} 9E+00",
	}
	if len(got) != 2 || got[0] != want[0] || !strings.Contains(got[1], `expr: "x + on(job) x", time: 0s, err: found duplicate series`) {
		t.Errorf("failures: %q", got)
	}
}

func TestMalformedFilesAreLocated(t *testing.T) {
	for _, tc := range []struct{ name, test, want string }{
		{"unknown field", "rule_files: [rules.yml]\ntests:\n  - intervall: 1m\n", `test.yml:3:5: unknown field "intervall"`},
		{"bad duration", "rule_files: [rules.yml]\nevaluation_interval: soon\n", `test.yml:2:22: invalid duration "soon"`},
		{"no rule files", "tests: []\n", "test.yml:1:1: rule_files: at least one rule file is required"},
		{"series values", "rule_files: [rules.yml]\ntests:\n  - input_series:\n      - {series: 'x', values: '1 2 three'}\n", `test.yml:4:36: input series: unexpected identifier "three"`},
		{"series labels", "rule_files: [rules.yml]\ntests:\n  - input_series:\n      - series: 'x{a=\"b}'\n        values: '1'\n", "test.yml:4:22: input series: unterminated quoted string"},
		{"expr", "rule_files: [rules.yml]\ntests:\n  - promql_expr_test:\n      - expr: sum(x\n", "test.yml:4:20: expr: unclosed left parenthesis"},
		{"sample labels", "rule_files: [rules.yml]\ntests:\n  - promql_expr_test:\n      - expr: x\n        exp_samples: [{labels: 'x{'}]\n", "test.yml:5:35: labels: unexpected end of input"},
		{"alertname", "rule_files: [rules.yml]\ntests:\n  - alert_rule_test: [{eval_time: 1m}]\n", "test.yml:3:23: alertname is required"},
		{"unknown alert", "rule_files: [rules.yml]\ntests:\n  - alert_rule_test: [{eval_time: 1m, alertname: Hihg}]\n", `test.yml:3:50: no alerting rule "Hihg" in rule_files`},
		{"eval order", "rule_files: [rules.yml]\ngroup_eval_order: [g, h, g]\n", `test.yml:2:23: group_eval_order: no rule group "h"`},
		{"start", "rule_files: [rules.yml]\ntests:\n  - start_timestamp: yesterday\n", `test.yml:3:22: invalid start_timestamp "yesterday"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := failures(t, tc.test, Options{})
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("failures: %q\nwant one containing %q", got, tc.want)
			}
		})
	}
}

func TestRuleErrorStopsTheGroup(t *testing.T) {
	// x and y differ only in their name: recorded as xy, they collide.
	test := `rule_files: [rules.yml, more.yml]
tests:
  - input_series:
      - {series: 'x{job="a"}', values: '1'}
      - {series: 'y{job="a"}', values: '1'}
    alert_rule_test:
      - {eval_time: 0m, alertname: High}
`
	file := write(t, test)
	more := "groups:\n  - name: dup\n    rules:\n      - record: xy\n        expr: '{__name__=~\"x|y\"}'\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "more.yml"), []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	res := RunFile(context.Background(), file, Options{})
	want := "    rule: xy, time: 0s, err: vector contains metrics with the same labelset after applying rule labels"
	if len(res.Failures) != 1 || res.Failures[0].Error() != want {
		t.Errorf("failures: %q", res.Failures)
	}
}

func TestRunSelectsGroupsAndWarns(t *testing.T) {
	test := `rule_files: [rules.yml, missing-*.yml]
evaluation_interval: 2m
tests:
  - name: picked
  - name: skipped
    alert_rule_test: [{eval_time: 0m, alertname: High, exp_alerts: [{}]}]
`
	file := write(t, test)
	res := RunFile(context.Background(), file, Options{Run: regexp.MustCompile("^pick")})
	if len(res.Failures) != 0 {
		t.Errorf("the skipped group ran: %q", res.Failures)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != "no file matches pattern "+filepath.Join(filepath.Dir(file), "missing-*.yml") {
		t.Errorf("warnings: %q", res.Warnings)
	}
	if res = RunFile(context.Background(), file, Options{}); len(res.Failures) != 1 {
		t.Errorf("without --run: %q", res.Failures)
	}
}

func TestHistogramsAndStartTimestamp(t *testing.T) {
	test := `rule_files: [rules.yml]
tests:
  - start_timestamp: 2026-11-22T10:00:00Z
    input_series:
      - series: 'h'
        values: '{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2'
    promql_expr_test:
      - expr: h
        eval_time: 2m
        exp_samples:
          - {labels: 'h', histogram: '{{schema:0 sum:5 count:4 buckets:[1 2 1]}}'}
      - expr: time()
        eval_time: 1m
        exp_samples: [{labels: '{}', value: 1795341660}]
`
	if got := failures(t, test, Options{}); len(got) != 0 {
		t.Errorf("failures: %q", got)
	}
	wrong := strings.Replace(test, "sum:5 count:4 buckets:[1 2 1]}}'}", "sum:6 count:4 buckets:[1 2 1]}}'}", 1)
	if got := failures(t, wrong, Options{}); len(got) != 1 || !strings.Contains(got[0], "got: {__name__=\"h\"} {{count:4 sum:5") {
		t.Errorf("failures: %q", got)
	}
}

func TestSampleEquality(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		eq   bool
	}{
		{1, 1, true},
		{0.3, 0.1 + 0.2, true},
		{1e12, 1e12 + 1e2, true},
		{1, 1.00001, false},
		{0, 1e-300, false},
		{math.NaN(), math.NaN(), true},
		{math.NaN(), 1, false},
		{math.Inf(1), math.Inf(1), true},
		{math.Inf(1), math.Inf(-1), false},
	} {
		if got := (sample{f: tc.a}).equal(sample{f: tc.b}); got != tc.eq {
			t.Errorf("%v == %v: %v, want %v", tc.a, tc.b, got, tc.eq)
		}
	}
}
