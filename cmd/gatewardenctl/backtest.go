package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/backtest"
	"github.com/gatewarden/gatewarden/config"
)

// backtestCmd is `rules backtest`: the configured rules and throttle
// policy run over recorded data, to see what they would have done.
type backtestCmd struct {
	*kingpin.CmdClause
	from, to, output               *string
	rules, sets                    *[]string
	configFile, storage, url, auth *string
	sandbox                        *string
	step                           *time.Duration
}

func newBacktest(parent *kingpin.CmdClause) backtestCmd {
	c := parent.Command("backtest", "Evaluate the configured rules over recorded data and report when each alert would have fired and resolved, and what the throttle policy would have done.")
	return backtestCmd{
		CmdClause:  c,
		from:       c.Flag("from", "Start: RFC 3339, a Unix timestamp, or now-DURATION (now-7d).").Required().String(),
		to:         c.Flag("to", "End, as --from.").Default("now").String(),
		rules:      c.Flag("rule", "Backtest only this alerting rule (repeatable); recording rules always run.").Strings(),
		sets:       c.Flag("set", "Change the --rule rules: value, min, function, op, window, count, for, keep_firing_for, level.critical|warning|info (repeatable), e.g. value=0.85.").Strings(),
		configFile: c.Flag("config.file", "gatewarden's configuration: its rules (or the built-in pack) and throttle policy.").Default("gatewarden.yml").String(),
		storage:    c.Flag("storage.path", "gatewarden's data directory, read without writing (the daemon may run).").String(),
		url:        c.Flag("url", "Or a running gatewarden, e.g. http://gatewarden:9090: the samples the rules read are copied from its API.").String(),
		auth:       c.Flag("token-file", "With --url: a file holding a bearer token for the API.").String(),
		sandbox:    c.Flag("sandbox-dir-root", "With --storage.path: where the read-only TSDB links its head chunks (same file system); default a temporary directory.").String(),
		step:       c.Flag("step", "Time between evaluations; default the config's evaluation interval.").Duration(),
		output:     c.Flag("output", "Report format.").Default("text").Enum("text", "json"),
	}
}

func (c backtestCmd) exec(stdout, stderr io.Writer) int {
	o, err := c.options(time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "rules backtest:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := backtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *c.output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// options reads the flags; now anchors relative times.
func (c backtestCmd) options(now time.Time) (backtest.Options, error) {
	o := backtest.Options{Rules: *c.rules, Step: *c.step, StoragePath: *c.storage, SandboxRoot: *c.sandbox}
	var err error
	if o.From, err = parseTime(*c.from, now); err != nil {
		return o, fmt.Errorf("--from: %w", err)
	}
	if o.To, err = parseTime(*c.to, now); err != nil {
		return o, fmt.Errorf("--to: %w", err)
	}
	for _, s := range *c.sets {
		set, err := backtest.ParseSet(s)
		if err != nil {
			return o, err
		}
		o.Sets = append(o.Sets, set)
	}
	if (*c.storage == "") == (*c.url == "") {
		return o, errors.New("name the data: --storage.path or --url, one of the two")
	}
	if *c.url != "" {
		if o.API, err = apiClient(*c.url, *c.auth); err != nil {
			return o, err
		}
	}
	o.Config, err = config.LoadFile(*c.configFile)
	return o, err
}

// parseTime reads RFC 3339, a Unix timestamp, now, or now-DURATION.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if d, ok := strings.CutPrefix(s, "now-"); ok {
		ago, err := model.ParseDuration(d)
		return now.Add(-time.Duration(ago)), err
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.UnixMilli(int64(f * 1000)), nil
	}
	return time.Time{}, fmt.Errorf("%q is no time: use RFC 3339, a Unix timestamp or now-DURATION", s)
}

// apiClient is client with a bearer token read from tokenFile on every
// request, when there is one.
func apiClient(url, tokenFile string) (promv1.API, error) {
	if tokenFile == "" {
		return client(url)
	}
	hc, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{
		Authorization: &commoncfg.Authorization{Type: "Bearer", CredentialsFile: tokenFile},
	}, "gatewardenctl")
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(api.Config{Address: url, Client: hc})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}
