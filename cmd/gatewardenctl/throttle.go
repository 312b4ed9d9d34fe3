package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// cpuMetric is the series a CPU trace is recorded from (DESIGN.md's
// metric contract).
const cpuMetric = "gateway_plugin_cpu_usage_ratio"

// throttleCmd is `throttle record|status|enable|disable|reconcile`: the
// auto-throttle's operator commands against a gatewarden's HTTP API.
type throttleCmd struct {
	record, status, enable, disable, reconcile *kingpin.CmdClause

	url, tokenFile, reason, by *string

	from, to                 *string
	window                   *time.Duration
	tenant, plugin, instance *string
}

func newThrottle(app *kingpin.Application) *throttleCmd {
	c := &throttleCmd{}
	th := app.Command("throttle", "Operate the auto-throttle: its kill switch, reconcile with the gateway, CPU traces to replay.")
	c.url = th.Flag("url", "gatewarden URL.").Default("http://127.0.0.1:9095").String()
	c.tokenFile = th.Flag("token-file", "File holding a bearer token: admin for enable, disable and reconcile, read for the others.").String()

	c.record = th.Command("record", "Write the raw "+cpuMetric+" samples of a time range as a CPU trace (CSV) that gatewaysim replays.")
	c.from = c.record.Flag("from", "Start of the range: RFC 3339, Unix seconds or now-DURATION (now-1h).").Required().String()
	c.to = c.record.Flag("to", "End of the range, as --from.").Default("now").String()
	c.window = c.record.Flag("window", "Range each query reads; lower it if a query hits the server's sample limit.").Default("1h").Duration()
	c.tenant = c.record.Flag("tenant_id", "Only this tenant.").String()
	c.plugin = c.record.Flag("plugin_id", "Only this plugin.").String()
	c.instance = c.record.Flag("instance_id", "Only this instance.").String()

	c.status = th.Command("status", "Show whether the automation is enabled, and who changed it when and why.")
	c.disable = th.Command("disable", "Turn the automation off: no new throttles, every active one released.")
	c.reason = c.disable.Flag("reason", "Why, for the audit and the notice.").Required().String()
	c.enable = th.Command("enable", "Turn the automation back on, from a clean state.")
	c.enable.Flag("reason", "Why, for the audit and the notice.").StringVar(c.reason)
	c.by = c.disable.Flag("by", "Who, for the audit and the notice.").Default(os.Getenv("USER")).String()
	c.enable.Flag("by", "Who, for the audit and the notice.").Default(os.Getenv("USER")).StringVar(c.by)
	c.reconcile = th.Command("reconcile", "Compare the gateway's throttles with gatewarden's now, and act on the differences.")
	return c
}

func (c *throttleCmd) handles(cmd string) bool {
	for _, cc := range []*kingpin.CmdClause{c.record, c.status, c.enable, c.disable, c.reconcile} {
		if cc.FullCommand() == cmd {
			return true
		}
	}
	return false
}

func (c *throttleCmd) exec(cmd string, stdout, stderr io.Writer) int {
	var err error
	switch cmd {
	case c.record.FullCommand():
		err = c.recordTrace(stdout, stderr)
	case c.status.FullCommand():
		var a automation
		if err = c.admin().do("GET", "/admin/throttles/automation", nil, &a); err == nil {
			a.print(stdout, false)
		}
	case c.enable.FullCommand(), c.disable.FullCommand():
		var a automation
		body := map[string]any{"enabled": cmd == c.enable.FullCommand(), "reason": *c.reason}
		if *c.by != "" {
			body["by"] = *c.by
		}
		if err = c.admin().do("PUT", "/admin/throttles/automation", body, &a); err == nil {
			a.print(stdout, true)
		}
	case c.reconcile.FullCommand():
		err = c.runReconcile(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

// admin sends requests as `gatewardenctl admin` does: the same token
// header, the same reading of an error answer.
func (c *throttleCmd) admin() *adminCmd {
	return &adminCmd{server: c.url, tokenFile: c.tokenFile}
}

// automation is the kill switch's state: the answer of GET and PUT
// /admin/throttles/automation.
type automation struct {
	Enabled   bool    `json:"enabled"`
	Reason    string  `json:"reason"`
	ChangedBy string  `json:"changed_by"`
	ChangedAt float64 `json:"changed_at"` // Unix seconds; 0: never changed
	Released  int     `json:"released"`   // throttles a PUT released
}

func (a automation) print(w io.Writer, changed bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state, at := "disabled", "never"
	if a.Enabled {
		state = "enabled"
	}
	if a.ChangedAt > 0 {
		sec, frac := math.Modf(a.ChangedAt)
		at = time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "automation:\t%s\n", state)
	fmt.Fprintf(tw, "reason:\t%s\n", cmp.Or(a.Reason, "-"))
	fmt.Fprintf(tw, "changed_by:\t%s\n", cmp.Or(a.ChangedBy, "-"))
	fmt.Fprintf(tw, "changed_at:\t%s\n", at)
	if changed {
		fmt.Fprintf(tw, "released:\t%d throttles\n", a.Released)
	}
	_ = tw.Flush()
}

// reconcileAnswer is POST /admin/throttles/reconcile's answer.
type reconcileAnswer struct {
	Supported   bool `json:"supported"`
	Differences []struct {
		Kind       string `json:"kind"`
		TenantID   string `json:"tenant_id"`
		PluginID   string `json:"plugin_id"`
		InstanceID string `json:"instance_id"`
		Action     string `json:"action"`
		Detail     string `json:"detail"`
	} `json:"differences"`
}

// runReconcile prints one line per difference. A gateway that cannot list
// its throttles is an error: nothing was compared.
func (c *throttleCmd) runReconcile(stdout io.Writer) error {
	var ans reconcileAnswer
	if err := c.admin().do("POST", "/admin/throttles/reconcile", nil, &ans); err != nil {
		return err
	}
	if !ans.Supported {
		return errors.New("reconcile cannot run: the gateway does not list its throttles (GET /internal/gateway/throttle)")
	}
	if len(ans.Differences) == 0 {
		fmt.Fprintln(stdout, "in agreement")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTENANT\tPLUGIN\tINSTANCE\tACTION\tDETAIL")
	for _, d := range ans.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Kind, d.TenantID, d.PluginID, d.InstanceID, d.Action, d.Detail)
	}
	return tw.Flush()
}

// traceKey is an instance: a row's labels in the trace.
type traceKey struct{ tenant, plugin, instance string }

type traceSample struct {
	at  model.Time
	key traceKey
	cpu float64
}

// recordTrace reads the raw samples window by window with instant queries
// of a range selector, the one way the Prometheus API returns samples as
// scraped, and writes them sorted by time, then instance.
func (c *throttleCmd) recordTrace(stdout, stderr io.Writer) error {
	now := time.Now()
	from, err := parseTime(*c.from, now)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := parseTime(*c.to, now)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	// The TSDB keeps milliseconds, and a range selector takes no less.
	from, to = from.Truncate(time.Millisecond).UTC(), to.Truncate(time.Millisecond).UTC()
	if !to.After(from) {
		return fmt.Errorf("--to (%s) must be after --from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if *c.window < time.Millisecond {
		return errors.New("--window must be at least 1ms")
	}
	client, err := apiClient(*c.url, *c.tokenFile)
	if err != nil {
		return err
	}
	sel := c.selector()
	var samples []traceSample
	origin := map[traceKey]model.Metric{} // the series each instance came from
	// Range selectors are left-open, (end-range, end]: starting a
	// millisecond early takes in a sample at --from itself, and each window
	// begins where the last ended, so none is read twice.
	for prev := from.Add(-time.Millisecond); prev.Before(to); {
		end := prev.Add(*c.window)
		if end.After(to) {
			end = to
		}
		m, err := c.queryRange(client, stderr, sel, end.Sub(prev), end)
		if err != nil {
			return err
		}
		for _, ss := range m {
			key, err := instanceOf(ss.Metric, origin)
			if err != nil {
				return err
			}
			for _, p := range ss.Values {
				samples = append(samples, traceSample{p.Timestamp, key, float64(p.Value)})
			}
		}
		prev = end
	}
	if len(samples) == 0 {
		return fmt.Errorf("no samples of %s between %s and %s", sel, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	slices.SortFunc(samples, func(a, b traceSample) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.key.tenant, b.key.tenant),
			cmp.Compare(a.key.plugin, b.key.plugin), cmp.Compare(a.key.instance, b.key.instance))
	})
	return writeTrace(stdout, stderr, samples)
}

// selector is the metric with the --tenant_id, --plugin_id and
// --instance_id matchers given.
func (c *throttleCmd) selector() string {
	ls := model.LabelSet{}
	for name, v := range map[model.LabelName]string{"tenant_id": *c.tenant, "plugin_id": *c.plugin, "instance_id": *c.instance} {
		if v != "" {
			ls[name] = model.LabelValue(v)
		}
	}
	if len(ls) == 0 {
		return cpuMetric
	}
	return cpuMetric + ls.String()
}

// queryRange returns the samples of sel in (end-rng, end].
func (c *throttleCmd) queryRange(client promv1.API, stderr io.Writer, sel string, rng time.Duration, end time.Time) (model.Matrix, error) {
	q := fmt.Sprintf("%s[%s]", sel, model.Duration(rng))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, warnings, err := client.Query(ctx, q, end)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", q, end.Format(time.RFC3339), err)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %s answered a %s, want a matrix", q, v.Type())
	}
	return m, nil
}

// instanceOf is the instance a series measures. Two series of one
// instance (two jobs scraping one gateway) would interleave in the trace,
// so they are refused.
func instanceOf(m model.Metric, origin map[traceKey]model.Metric) (traceKey, error) {
	key := traceKey{string(m["tenant_id"]), string(m["plugin_id"]), string(m["instance_id"])}
	if key.tenant == "" || key.plugin == "" || key.instance == "" {
		return key, fmt.Errorf("series %s lacks tenant_id, plugin_id or instance_id", m)
	}
	if o, ok := origin[key]; !ok {
		origin[key] = m
	} else if !o.Equal(m) {
		return key, fmt.Errorf("instance tenant_id=%q plugin_id=%q instance_id=%q comes from two series, %s and %s; a trace holds one",
			key.tenant, key.plugin, key.instance, o, m)
	}
	return key, nil
}

// writeTrace writes the CSV gatewaysim.ParseTrace reads. A value outside
// [0, 1] is written as recorded, with a warning: the replay refuses it.
func writeTrace(stdout, stderr io.Writer, samples []traceSample) error {
	w := csv.NewWriter(stdout)
	if err := w.Write(gatewaysim.TraceColumns); err != nil {
		return err
	}
	outside := 0
	for _, s := range samples {
		if s.cpu < 0 || s.cpu > 1 || math.IsNaN(s.cpu) {
			outside++
		}
		at := s.at.Time().UTC().Format(time.RFC3339Nano)
		if err := w.Write([]string{at, s.key.tenant, s.key.plugin, s.key.instance, strconv.FormatFloat(s.cpu, 'g', -1, 64)}); err != nil {
			return err
		}
	}
	w.Flush()
	if outside > 0 {
		fmt.Fprintf(stderr, "warning: %d samples outside [0, 1]: gatewaysim replays ratios only\n", outside)
	}
	return w.Error()
}
