package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/rules"
)

// exported runs rules export and parses its output as Prometheus would.
func exported(t *testing.T, args ...string) (*rulefmt.RuleGroups, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"rules", "export"}, args...), &out, &errOut); code != 0 {
		t.Fatalf("%q: exit %d\n%s", args, code, errOut.String())
	}
	rgs, errs := rulefmt.Parse(out.Bytes(), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, out.String())
	}
	return rgs, errOut.String()
}

func TestExportRules(t *testing.T) {
	rgs, warnings := exported(t, "--builtin", "testdata/rules.yml")
	var names []string
	for _, g := range rgs.Groups {
		names = append(names, g.Name)
		want := model.Duration(10 * time.Second)
		if g.Name == "gateway-daily" {
			want = model.Duration(time.Minute)
		}
		if g.Interval != want {
			t.Errorf("group %s: interval %s, want %s written out", g.Name, g.Interval, want)
		}
	}
	if got, want := strings.Join(names, " "), "gateway-budget gateway-traffic gateway-events gateway-plugins gateway-daily recording gateway"; got != want {
		t.Errorf("groups %s, want %s", got, want)
	}
	// Warnings name the file and rule, one a line, on stderr.
	for _, want := range []string{
		`warning: builtin/gateway.yml: group "gateway-budget", alert "GatewayBudgetStep": steps:`,
		`warning: testdata/rules.yml: group "gateway", alert "MasterSilent": nodata:`,
		`warning: testdata/rules.yml: group "gateway", alert "BudgetSpent": steps:`,
	} {
		if !strings.Contains(warnings, "\n"+want) && !strings.HasPrefix(warnings, want) {
			t.Errorf("stderr lacks %q:\n%s", want, warnings)
		}
	}
}

func TestExportRulesInterval(t *testing.T) {
	rgs, _ := exported(t, "--interval=1m", "testdata/rules.yml")
	g := rgs.Groups[1]
	if g.Interval != model.Duration(time.Minute) {
		t.Errorf("interval %s, want 1m", g.Interval)
	}
	if e := g.Rules[1].Expr; !strings.Contains(e, "[3m:1m]") {
		t.Errorf("PluginCPUHigh's #3 window at 1m: %s", e)
	}
}

// Group names must be unique in one Prometheus rule file.
func TestExportRulesSameGroupName(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yml", "b.yml", "sub/a.yml"} {
		writeRules(t, filepath.Join(dir, f), "groups:\n  - name: g\n    rules: [{record: r, expr: up}]\n  - name: only-"+strings.ReplaceAll(f, "/", "-")+"\n    rules: [{record: r, expr: up}]\n")
	}
	rgs, _ := exported(t, filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml"), filepath.Join(dir, "sub/a.yml"))
	var names []string
	for _, g := range rgs.Groups {
		names = append(names, g.Name)
	}
	want := []string{dir + "/a.yml:g", "only-a.yml", "b.yml:g", "only-b.yml", dir + "/sub/a.yml:g", "only-sub-a.yml"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("groups\n %q\nwant\n %q", names, want)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"rules", "export", filepath.Join(dir, "b.yml"), filepath.Join(dir, "b.yml")}, &out, &errOut); code != 1 || out.Len() > 0 {
		t.Errorf("a file named twice: exit %d, stdout %q", code, out.String())
	}
}

func TestExportRulesFailures(t *testing.T) {
	dir := t.TempDir()
	diff := filepath.Join(dir, "diff.yml")
	writeRules(t, diff, `groups:
  - name: g
    rules:
      - alert: Jump
        expr: cpu
        condition: {function: diff, window: 10s, op: ">", value: 1}
`)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{diff}, 1, `diff.yml: group "g", alert "Jump": condition: diff over 10s at a 10s interval: the window holds one evaluation`},
		{[]string{"testdata/bad_rules.yml", "testdata/rules.yml"}, 1, "testdata/bad_rules.yml:5:15: expr: no arguments"},
		{nil, 2, "name rule files, or --builtin"},
		{[]string{"testdata/missing.yml"}, 2, "missing.yml"},
		{[]string{"--interval=0s", "--builtin"}, 2, "--interval must be positive"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"rules", "export"}, tc.args...), &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("%q: a failed export wrote %q", tc.args, out.String())
		}
	}
}

func TestBuiltinRules(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"rules", "builtin"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !bytes.Equal(out.Bytes(), rules.BuiltinSource()) {
		t.Error("rules builtin does not print the built-in pack")
	}
	if _, err := rules.Parse(out.Bytes(), "gateway.yml"); err != nil {
		t.Errorf("the printed pack does not load: %v", err)
	}
}

func writeRules(t *testing.T, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
