package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/rules"
)

// exportRulesCmd is `rules export [--interval] [--builtin] [FILE...]`: the
// rules as plain Prometheus rule files, for a central Prometheus to run
// the same alerts.
type exportRulesCmd struct {
	*kingpin.CmdClause
	interval *time.Duration
	builtin  *bool
	files    *[]string
}

func newExportRules(parent *kingpin.CmdClause) exportRulesCmd {
	c := parent.Command("export", "Write rule files as one plain Prometheus rule file on stdout; what cannot be exact is warned about on stderr.")
	return exportRulesCmd{
		CmdClause: c,
		interval: c.Flag("interval", "Evaluation interval of the groups that set none; windows are compiled for it.").
			Default(config.DefaultEvaluationInterval.String()).Duration(),
		builtin: c.Flag("builtin", "Export the built-in rule pack.").Bool(),
		files:   c.Arg("rule-files", "The rule files to export.").ExistingFiles(),
	}
}

func (c exportRulesCmd) exec(stdout, stderr io.Writer) int {
	if len(*c.files) == 0 && !*c.builtin {
		fmt.Fprintln(stderr, "rules export: name rule files, or --builtin")
		return 2
	}
	if *c.interval <= 0 {
		fmt.Fprintln(stderr, "rules export: --interval must be positive")
		return 2
	}
	var sources []*rules.Groups
	code := 0
	if *c.builtin {
		gs, err := rules.Builtin()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		sources = append(sources, gs)
	}
	// Every file is reported, so one bad file does not hide another.
	for _, f := range *c.files {
		gs, err := rules.ParseFile(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		sources = append(sources, gs)
	}
	out := &rulefmt.RuleGroups{}
	var files, names []string // per group
	for _, gs := range sources {
		exported, warnings, err := rules.Export(gs, *c.interval)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		out.Groups = append(out.Groups, exported.Groups...)
		for _, g := range gs.Groups {
			files, names = append(files, g.File), append(names, g.Name)
		}
	}
	if code != 0 {
		return code
	}
	if err := nameGroups(out.Groups, files, names); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Exported by gatewardenctl rules export from %s, at an interval of %s where a group sets none.\n",
		strings.Join(sourceNames(c), ", "), model.Duration(*c.interval))
	if err := rules.WriteRuleGroups(&b, out); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := stdout.Write(b.Bytes()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func sourceNames(c exportRulesCmd) []string {
	if *c.builtin {
		return append([]string{rules.BuiltinFile}, *c.files...)
	}
	return *c.files
}

// nameGroups keeps group names unique, as Prometheus requires within a
// file: a name several files use is prefixed with each file's base name,
// or with its path where base names are the same too.
func nameGroups(groups []rulefmt.RuleGroup, files, names []string) error {
	for _, prefix := range []func(string) string{filepath.Base, filepath.Clean} {
		used := map[string]int{}
		for _, g := range groups {
			used[g.Name]++
		}
		clash := false
		for i := range groups {
			if used[groups[i].Name] > 1 {
				groups[i].Name, clash = prefix(files[i])+":"+names[i], true
			}
		}
		if !clash {
			return nil
		}
	}
	used := map[string]bool{}
	for _, g := range groups {
		if used[g.Name] {
			return fmt.Errorf("group %q: exported twice, as a file was named twice", g.Name)
		}
		used[g.Name] = true
	}
	return nil
}

// builtinRulesCmd is `rules builtin`: the built-in pack's text, as its
// header comment promises, to copy, edit and list under rule_files.
type builtinRulesCmd struct{ *kingpin.CmdClause }

func newBuiltinRules(parent *kingpin.CmdClause) builtinRulesCmd {
	return builtinRulesCmd{parent.Command("builtin", "Print the built-in rule pack, to copy and adapt.")}
}

func (builtinRulesCmd) exec(stdout, stderr io.Writer) int {
	if _, err := stdout.Write(rules.BuiltinSource()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
