package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckRules(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "rules", "testdata/rules.yml"}, &out, &errOut); code != 0 {
		t.Fatalf("good rules: exit %d, %s", code, errOut.String())
	}
	if want := "Checking testdata/rules.yml\n  SUCCESS: 7 rules found\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	out.Reset()
	if code := run([]string{"check", "rules", "testdata/bad_rules.yml", "testdata/rules.yml"}, &out, &errOut); code != 1 {
		t.Fatalf("bad rules: exit %d", code)
	}
	if !strings.Contains(out.String(), "Checking testdata/rules.yml\n  SUCCESS") {
		t.Errorf("a bad file hid the next one: %q", out.String())
	}
	// Every error, PromQL ones at their place in the expression.
	want := `  FAILED:
testdata/bad_rules.yml:5:15: expr: no arguments for aggregate expression provided
testdata/bad_rules.yml:5:64: expr: unclosed left parenthesis
testdata/bad_rules.yml:7:17: unknown action "reboot"
testdata/bad_rules.yml:8:17: a recording rule takes only record, expr and labels
`
	if errOut.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), want)
	}
	if code := run([]string{"check", "rules"}, &out, &errOut); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
}

func TestTestRules(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"test", "rules", "testdata/rules_test.yml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	if want := "Unit Testing: testdata/rules_test.yml\n  SUCCESS\n\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestTestRulesReportsFailures(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"test", "rules", "testdata/failing_test.yml"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := `Unit Testing: testdata/failing_test.yml
  FAILED:
    name: wrong expectations,
    alertname: TrafficSpike, time: 1m, 
        exp:[
            0:
              Labels:{alertname="TrafficSpike", master="m1", severity="warning"}
              Annotations:{}
            ], 
        got:[
            0:
              Labels:{alertname="TrafficSpike", master="m1", severity="critical"}
              Annotations:{}
            ]

    name: wrong expectations,
    expr: "master:gateway_requests:rpm", time: 1m,
        exp: {__name__="master:gateway_requests:rpm", master="m1"} 2.4E+02
        got: {__name__="master:gateway_requests:rpm", master="m1"} 2.5E+02

`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTestRulesUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"test", "rules"},
		{"test", "rules", "testdata/missing.yml"},
		{"test", "rules", "--run", "(", "testdata/rules_test.yml"},
	} {
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	out.Reset()
	if code := run([]string{"test", "rules", "--run", "^levels$", "testdata/failing_test.yml"}, &out, &errOut); code != 0 {
		t.Errorf("--run that selects nothing failing: exit %d\n%s", code, out.String())
	}
}

// diff and pdiff over #N changed meaning (Open-Falcon's N points before the
// latest): check says so once per such condition, and only for those.
func TestCheckRulesWarnsOfChangedDiffWindows(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "rules", "testdata/diff_rules.yml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, %s", code, errOut.String())
	}
	want := "Checking testdata/diff_rules.yml\n  SUCCESS: 2 rules found\n" +
		`  WARNING: group "changes", alert "RequestsJump": condition: diff over #3 compares the latest point with the 3 points before it (before this release, with 2): check the window and the threshold` + "\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
