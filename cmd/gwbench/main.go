// Command gwbench measures gatewarden end to end: it starts gatewaysim and
// gatewarden as separate processes on 127.0.0.1 with generated configs,
// runs the ingest, evaluate, detect, receive and soak scenarios, and
// reports each figure beside its target (terminal table, JSON, SVG chart
// of the latency distributions). gwbench compare old.json new.json shows
// what moved between two runs. docs/benchmarks.md has the targets and the
// latest figures.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

func main() {
	code, err := runMain(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gwbench:", err)
	}
	os.Exit(code)
}

// suite is the run command's settings.
type suite struct {
	bin, out, svg, scenarios string
	keep, failOnMiss         bool
	ingestSizes, evalRules   string
	evalSeries, soakSeries   string
	receiveBatches           string
	receiveAPIs              string
	floodAlerts, floodSizes  string
	ingest                   ingestOpts
	evaluate                 evaluateOpts
	detect                   detectOpts
	receive                  receiveOpts
	soak                     soakOpts
	flood                    floodOpts
	rulesProm                rulesPromOpts
	rulesPromSeries          string
	ingestProm               ingestPromOpts
	ingestPromSeries         string
	fleet                    ingestPromOpts
	fleetSeries              string
}

func runMain(args []string, stdout, stderr io.Writer) (int, error) {
	app := kingpin.New("gwbench", "Whole-process benchmarks of gatewarden against gatewaysim, reported against the targets in docs/benchmarks.md.")
	app.HelpFlag.Short('h')
	var s suite
	run := app.Command("run", "Run the scenarios and report.").Default()
	s.flags(run)
	cmp := app.Command("compare", "Compare two result files; exit 1 when a figure regressed beyond the tolerance.")
	oldPath := cmp.Arg("old", "Earlier results (JSON).").Required().String()
	newPath := cmp.Arg("new", "Later results (JSON).").Required().String()
	tolerance := cmp.Flag("tolerance", "Relative change in a figure's worse direction that counts as a regression.").Default("0.1").Float64()
	app.Command("targets", "Print the targets as the markdown table docs/benchmarks.md embeds.")
	cmd, err := app.Parse(args)
	if err != nil {
		return 2, err
	}
	switch cmd {
	case "compare":
		return compareFiles(stdout, *oldPath, *newPath, *tolerance)
	case "targets":
		_, err := io.WriteString(stdout, targetsMarkdown())
		return exitCode(err), err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.run(ctx, stdout, stderr)
}

func (s *suite) flags(c *kingpin.CmdClause) {
	c.Flag("bin", "Directory holding the gatewarden and gatewaysim binaries (make build).").Default("bin").StringVar(&s.bin)
	c.Flag("scenarios", "Scenarios to run, in order: ingest, ingest-prom, rules-prom and fleet (these need --prometheus), evaluate, detect, receive, flood, soak.").Default("ingest,evaluate,detect,receive,flood,soak").StringVar(&s.scenarios)
	c.Flag("out", "Results file (JSON); empty writes none.").Default("gwbench.json").StringVar(&s.out)
	c.Flag("svg", "Chart of the latency distributions (SVG); empty writes none.").Default("gwbench.svg").StringVar(&s.svg)
	c.Flag("keep", "Keep the work directory (configs, logs, data) instead of removing it.").BoolVar(&s.keep)
	c.Flag("fail-on-miss", "Exit 1 when a figure misses its target.").BoolVar(&s.failOnMiss)

	c.Flag("ingest.series", "Series counts to ingest.").Default("10k,100k,300k").StringVar(&s.ingestSizes)
	c.Flag("ingest.interval", "Scrape interval.").Default("5s").DurationVar(&s.ingest.interval)
	c.Flag("ingest.duration", "Measurement window after the first full scrape.").Default("60s").DurationVar(&s.ingest.duration)

	c.Flag("evaluate.rules", "Rule counts to evaluate.").Default("100,1000,5000").StringVar(&s.evalRules)
	c.Flag("evaluate.series", "Series the rules run over.").Default("100k").StringVar(&s.evalSeries)
	c.Flag("evaluate.interval", "Scrape and evaluation interval.").Default("5s").DurationVar(&s.evaluate.interval)
	c.Flag("evaluate.cycles", "Cycles measured per rule count.").Default("5").IntVar(&s.evaluate.cycles)

	c.Flag("detect.reps", "Spikes timed.").Default("50").IntVar(&s.detect.reps)
	c.Flag("detect.interval", "Scrape and evaluation interval; it bounds the detection latency.").Default("1s").DurationVar(&s.detect.interval)

	c.Flag("receive.api", "Ingest APIs: v2 (/api/v2/alerts), webhook (/api/v1/webhook/alertmanager).").Default("v2,webhook").StringVar(&s.receiveAPIs)
	c.Flag("receive.batch", "Alerts per request.").Default("1,100").StringVar(&s.receiveBatches)
	c.Flag("receive.clients", "Concurrent clients.").Default("8").IntVar(&s.receive.clients)
	c.Flag("receive.alerts", "Distinct alerts.").Default("10000").IntVar(&s.receive.alerts)
	c.Flag("receive.duration", "Load per API and batch size, after the warm-up.").Default("20s").DurationVar(&s.receive.duration)

	c.Flag("flood.alerts", "Distinct alerts each flood sends, one count per alert size.").Default("1M,200k").StringVar(&s.floodAlerts)
	c.Flag("flood.size", "Bytes of one flood alert's names and values, per flood: 8k is the default max_alert_size.").Default("640,8k").StringVar(&s.floodSizes)
	c.Flag("flood.batch", "Alerts per flood request.").Default("500").IntVar(&s.flood.batch)
	c.Flag("flood.clients", "Concurrent flood clients.").Default("4").IntVar(&s.flood.clients)
	c.Flag("flood.deliver-within", "How long every accepted alert may take to reach the sink; 0 does not wait.").Default("5m").DurationVar(&s.flood.deliverWithin)
	c.Flag("flood.group-by", "The route's group_by: alertname makes 20 groups, alertname,master one per alert.").Default("alertname").StringVar(&s.flood.groupBy)

	c.Flag("prometheus", "Prometheus binary for the rules-prom, ingest-prom and fleet scenarios (make prometheus builds bin/prometheus from the pinned module).").StringVar(&s.rulesProm.prometheus)
	c.Flag("rules-prom.rules", "Plain Prometheus rules (groups of 100).").Default("1000").IntVar(&s.rulesProm.rules)
	c.Flag("rules-prom.series", "Series the rules run over.").Default("100k").StringVar(&s.rulesPromSeries)
	c.Flag("rules-prom.interval", "Scrape and evaluation interval.").Default("10s").DurationVar(&s.rulesProm.interval)
	c.Flag("rules-prom.duration", "How long both run, sampled every interval.").Default("5m").DurationVar(&s.rulesProm.duration)

	c.Flag("ingest-prom.series", "Neutral series both scrape.").Default("100k").StringVar(&s.ingestPromSeries)
	c.Flag("ingest-prom.interval", "Scrape interval.").Default("10s").DurationVar(&s.ingestProm.interval)
	c.Flag("ingest-prom.duration", "Window after both scraped the target whole once.").Default("30m").DurationVar(&s.ingestProm.duration)
	c.Flag("fleet.series", "Neutral series gatewarden (remote_write on) and Prometheus in agent mode scrape.").Default("100k").StringVar(&s.fleetSeries)
	c.Flag("fleet.interval", "Scrape interval.").Default("10s").DurationVar(&s.fleet.interval)
	c.Flag("fleet.duration", "Window after both scraped the target whole once.").Default("10m").DurationVar(&s.fleet.duration)

	c.Flag("soak.duration", "Soak length.").Default("30m").DurationVar(&s.soak.duration)
	c.Flag("soak.series", "Series during the soak.").Default("10k").StringVar(&s.soakSeries)
	c.Flag("soak.interval", "Scrape and evaluation interval during the soak.").Default("5s").DurationVar(&s.soak.interval)
}

// parse turns the list flags into the scenario options.
func (s *suite) parse() error {
	var err error
	list := func(flag, v string) []int {
		sizes, perr := parseSizes(v)
		if perr != nil && err == nil {
			err = fmt.Errorf("--%s: %w", flag, perr)
		}
		return sizes
	}
	one := func(flag, v string) int {
		sizes := list(flag, v)
		if len(sizes) == 1 {
			return sizes[0]
		}
		if err == nil {
			err = fmt.Errorf("--%s: want one size, got %q", flag, v)
		}
		return 0
	}
	s.ingest.sizes = list("ingest.series", s.ingestSizes)
	s.evaluate.rules = list("evaluate.rules", s.evalRules)
	s.evaluate.series = one("evaluate.series", s.evalSeries)
	s.receive.batches = list("receive.batch", s.receiveBatches)
	s.receive.apis = splitList(s.receiveAPIs)
	s.soak.series = one("soak.series", s.soakSeries)
	s.rulesProm.series = one("rules-prom.series", s.rulesPromSeries)
	s.ingestProm.series = one("ingest-prom.series", s.ingestPromSeries)
	s.ingestProm.prometheus = s.rulesProm.prometheus
	s.fleet.series = one("fleet.series", s.fleetSeries)
	s.fleet.prometheus = s.rulesProm.prometheus
	s.flood.alerts = list("flood.alerts", s.floodAlerts)
	s.flood.sizes = list("flood.size", s.floodSizes)
	if err != nil {
		return err
	}
	if len(s.flood.alerts) != len(s.flood.sizes) {
		return fmt.Errorf("--flood.alerts has %d counts for %d --flood.size sizes", len(s.flood.alerts), len(s.flood.sizes))
	}
	for _, name := range splitList(s.scenarios) {
		if _, ok := scenarioRunners[name]; !ok {
			return fmt.Errorf("--scenarios: unknown scenario %q (want ingest, ingest-prom, evaluate, detect, receive, flood, rules-prom, fleet, soak)", name)
		}
	}
	if s.evaluate.cycles < 1 || s.detect.reps < 1 || s.receive.clients < 1 || s.receive.alerts < 1 || s.flood.batch < 1 || s.flood.clients < 1 {
		return errors.New("--evaluate.cycles, --detect.reps, --receive.clients, --receive.alerts, --flood.batch and --flood.clients must be positive")
	}
	return nil
}

var scenarioRunners = map[string]func(context.Context, *env, *suite, *Report) error{
	"ingest": func(ctx context.Context, e *env, s *suite, r *Report) error { return runIngest(ctx, e, s.ingest, r) },
	"evaluate": func(ctx context.Context, e *env, s *suite, r *Report) error {
		return runEvaluate(ctx, e, s.evaluate, r)
	},
	"detect":  func(ctx context.Context, e *env, s *suite, r *Report) error { return runDetect(ctx, e, s.detect, r) },
	"receive": func(ctx context.Context, e *env, s *suite, r *Report) error { return runReceive(ctx, e, s.receive, r) },
	"soak":    func(ctx context.Context, e *env, s *suite, r *Report) error { return runSoak(ctx, e, s.soak, r) },
	"flood":   func(ctx context.Context, e *env, s *suite, r *Report) error { return runFlood(ctx, e, s.flood, r) },
	"rules-prom": func(ctx context.Context, e *env, s *suite, r *Report) error {
		return runRulesProm(ctx, e, s.rulesProm, r)
	},
	"ingest-prom": func(ctx context.Context, e *env, s *suite, r *Report) error {
		return runIngestProm(ctx, e, s.ingestProm, r)
	},
	"fleet": func(ctx context.Context, e *env, s *suite, r *Report) error { return runFleet(ctx, e, s.fleet, r) },
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *suite) run(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	if err := s.parse(); err != nil {
		return 2, err
	}
	for _, b := range []string{"gatewarden", "gatewaysim"} {
		if _, err := os.Stat(filepath.Join(s.bin, b)); err != nil {
			return 2, fmt.Errorf("%s not found in %s: build it first (make build), or point --bin at it", b, s.bin)
		}
	}
	work, err := os.MkdirTemp("", "gwbench-")
	if err != nil {
		return 1, err
	}
	e := &env{bin: s.bin, work: work, log: stderr, http: &http.Client{Timeout: 30 * time.Second}}
	if s.keep {
		e.logf("work directory %s kept", work)
	} else {
		defer os.RemoveAll(work)
	}
	r := &Report{Started: time.Now().UTC(), Scenarios: splitList(s.scenarios),
		Host: Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadAverage()}}
	var runErr error
	for _, name := range r.Scenarios {
		if runErr = scenarioRunners[name](ctx, e, s, r); runErr != nil {
			r.note("scenario %s stopped: %v", name, runErr)
			break
		}
	}
	r.Duration = time.Since(r.Started).Seconds()
	r.Host.LoadAfter = loadAverage()
	if err := s.write(stdout, r); err != nil {
		return 1, err
	}
	switch {
	case runErr != nil:
		return 1, runErr
	case s.failOnMiss && missed(r) > 0:
		return 1, fmt.Errorf("%d figure(s) missed their target", missed(r))
	}
	return 0, nil
}

// write prints the table and writes the JSON and SVG files, even for a
// run cut short, so what was measured is kept.
func (s *suite) write(stdout io.Writer, r *Report) error {
	fmt.Fprintf(stdout, "gwbench %s, %d CPUs, load average %.2f before and %.2f after, %.0f s\n\n",
		r.Started.Format(time.RFC3339), r.Host.CPUs, r.Host.LoadBefore, r.Host.LoadAfter, r.Duration)
	if err := writeTable(stdout, r); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	if s.out != "" {
		if err := writeJSON(s.out, r); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "results:", s.out)
	}
	if s.svg != "" {
		f, err := os.Create(s.svg)
		if err != nil {
			return err
		}
		if err := writeSVG(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "latency chart:", s.svg)
	}
	return nil
}

func compareFiles(stdout io.Writer, oldPath, newPath string, tolerance float64) (int, error) {
	old, err := readReport(oldPath)
	if err != nil {
		return 2, err
	}
	cur, err := readReport(newPath)
	if err != nil {
		return 2, err
	}
	n, err := writeDeltas(stdout, compareReports(old, cur, tolerance), tolerance)
	if err != nil {
		return 2, err
	}
	if n > 0 {
		return 1, nil
	}
	return 0, nil
}

func exitCode(err error) int {
	if err != nil {
		return 1
	}
	return 0
}
