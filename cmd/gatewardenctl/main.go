// Command gatewardenctl is gatewarden's promtool and amtool: it checks
// configuration before a reload and, as later stages land, tests rules and
// talks to a running gatewarden.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0 success, 1 a check failed, 2 bad usage, as
// promtool does.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("gatewardenctl", "Tooling for gatewarden: check configuration, query a running gatewarden.")
	app.Version(version.Print("gatewardenctl"))
	app.HelpFlag.Short('h')
	app.Terminate(nil)
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)

	check := app.Command("check", "Check the resources for validity.")
	checkConfig := check.Command("config", "Check if the config files are valid or not.")
	configFiles := checkConfig.Arg("config-files", "The config files to check.").Required().ExistingFiles()
	checkRules := newCheckRules(check)
	testRules := newTestRules(app.Command("test", "Unit testing."))
	exportRules := newExportRules(app.Command("rules", "Export rules to plain Prometheus rules; print the built-in rule pack."))
	builtinRules := newBuiltinRules(app.GetCommand("rules"))
	backtestRules := newBacktest(app.GetCommand("rules"))

	query := app.Command("query", "Run a PromQL query against a gatewarden.")
	instant := query.Command("instant", "Run an instant query.")
	instantURL := instant.Arg("server", "gatewarden URL, e.g. http://127.0.0.1:9095.").Required().String()
	instantExpr := instant.Arg("expr", "PromQL query expression.").Required().String()

	tgts := app.Command("targets", "List a gatewarden's scrape targets and their health.")
	targetsURL := tgts.Arg("server", "gatewarden URL, e.g. http://127.0.0.1:9095.").Required().String()

	alrts := app.Command("alerts", "List a gatewarden's pending and firing alerts.")
	alertsURL := alrts.Arg("server", "gatewarden URL, e.g. http://127.0.0.1:9095.").Required().String()

	admin := newAdmin(app)
	throttles := newThrottle(app)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if admin.handles(cmd) {
		return admin.exec(cmd, stdout, stderr)
	}
	if throttles.handles(cmd) {
		return throttles.exec(cmd, stdout, stderr)
	}
	switch cmd {
	case checkConfig.FullCommand():
		return checkConfigs(stdout, stderr, *configFiles)
	case checkRules.FullCommand():
		return checkRules.exec(stdout, stderr)
	case testRules.FullCommand():
		return testRules.exec(stdout, stderr)
	case exportRules.FullCommand():
		return exportRules.exec(stdout, stderr)
	case builtinRules.FullCommand():
		return builtinRules.exec(stdout, stderr)
	case backtestRules.FullCommand():
		return backtestRules.exec(stdout, stderr)
	case instant.FullCommand():
		return queryInstant(stdout, stderr, *instantURL, *instantExpr)
	case tgts.FullCommand():
		return targets(stdout, stderr, *targetsURL)
	case alrts.FullCommand():
		return alerts(stdout, stderr, *alertsURL)
	}
	return 0
}
