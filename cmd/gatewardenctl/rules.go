package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/ruletest"
)

// checkRulesCmd is `check rules FILE...`. The commands of this file define
// their own arguments so that main stays a table of commands.
type checkRulesCmd struct {
	*kingpin.CmdClause
	files *[]string
}

func newCheckRules(check *kingpin.CmdClause) checkRulesCmd {
	c := check.Command("rules", "Check if the rule files are valid or not.")
	return checkRulesCmd{c, c.Arg("rule-files", "The rule files to check.").Required().ExistingFiles()}
}

// exec reports every file, so one bad file does not hide another.
func (c checkRulesCmd) exec(stdout, stderr io.Writer) int {
	code := 0
	for _, f := range *c.files {
		fmt.Fprintf(stdout, "Checking %s\n", f)
		gs, err := rules.ParseFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "  FAILED:\n%s\n", err)
			code = 1
			continue
		}
		n := 0
		for _, g := range gs.Groups {
			n += len(g.Rules)
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d rules found\n", n)
		for _, w := range rules.ChangedWindows(gs) {
			fmt.Fprintf(stdout, "  WARNING: %s\n", w)
		}
	}
	return code
}

// testRulesCmd is `test rules FILE...`, promtool's rule unit tests run on
// gatewarden's evaluator.
type testRulesCmd struct {
	*kingpin.CmdClause
	run   *[]string
	files *[]string
}

func newTestRules(test *kingpin.CmdClause) testRulesCmd {
	c := test.Command("rules", "Unit tests for rules, in promtool's test file format.")
	return testRulesCmd{
		CmdClause: c,
		run:       c.Flag("run", "Run only the test groups whose name matches this regular expression. Can be repeated.").Strings(),
		files:     c.Arg("test-rule-file", "The unit test files.").Required().ExistingFiles(),
	}
}

func (c testRulesCmd) exec(stdout, stderr io.Writer) int {
	var o ruletest.Options
	if len(*c.run) > 0 {
		re, err := regexp.Compile(strings.Join(*c.run, "|"))
		if err != nil {
			fmt.Fprintf(stderr, "--run: %v\n", err)
			return 2
		}
		o.Run = re
	}
	if !ruletest.Run(context.Background(), stdout, *c.files, o) {
		return 1
	}
	return 0
}
