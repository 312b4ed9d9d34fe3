package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// client talks to gatewarden with Prometheus's own API client: whatever
// works here works for Grafana and promtool too.
func client(url string) (promv1.API, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}

// call runs one API call with a timeout and reports its failure as what.
func call[T any](stderr io.Writer, url, what string, timeout time.Duration, f func(promv1.API, context.Context) (T, error)) (T, bool) {
	var zero T
	c, err := client(url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return zero, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := f(c, ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s failed: %v\n", what, err)
		return zero, false
	}
	return res, true
}

func queryInstant(stdout, stderr io.Writer, url, expr string) int {
	type answer struct {
		v        model.Value
		warnings promv1.Warnings
	}
	res, ok := call(stderr, url, "query", time.Minute, func(c promv1.API, ctx context.Context) (answer, error) {
		v, w, err := c.Query(ctx, expr, time.Now())
		return answer{v, w}, err
	})
	if !ok {
		return 1
	}
	v, warnings := res.v, res.warnings
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	printValue(stdout, v)
	return 0
}

// printValue writes one sample a line, ordered by labels, so repeated runs
// line up in a terminal.
func printValue(w io.Writer, v model.Value) {
	vec, ok := v.(model.Vector)
	if !ok {
		fmt.Fprintln(w, v.String())
		return
	}
	if len(vec) == 0 {
		fmt.Fprintln(w, "(no data)")
		return
	}
	slices.SortFunc(vec, func(a, b *model.Sample) int { return strings.Compare(a.Metric.String(), b.Metric.String()) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range vec {
		fmt.Fprintf(tw, "%s\t%s\n", s.Metric, formatValue(float64(s.Value)))
	}
	_ = tw.Flush()
}

// formatValue prints what the API returned, without rounding it away.
func formatValue(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func targets(stdout, stderr io.Writer, url string) int {
	res, ok := call(stderr, url, "listing targets", 30*time.Second, promv1.API.Targets)
	if !ok {
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tURL\tHEALTH\tLAST SCRAPE\tDURATION\tERROR")
	for _, t := range res.Active {
		ago := "never"
		if !t.LastScrape.IsZero() {
			ago = time.Since(t.LastScrape).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3fs\t%s\n", t.ScrapePool, t.ScrapeURL, t.Health, ago, t.LastScrapeDuration, t.LastError)
	}
	_ = tw.Flush()
	return 0
}

func alerts(stdout, stderr io.Writer, url string) int {
	res, ok := call(stderr, url, "listing alerts", 30*time.Second, promv1.API.Alerts)
	if !ok {
		return 1
	}
	if len(res.Alerts) == 0 {
		fmt.Fprintln(stdout, "(no active alerts)")
		return 0
	}
	slices.SortFunc(res.Alerts, func(a, b promv1.Alert) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tSINCE\tALERT\tSUMMARY")
	for _, a := range res.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.State, a.ActiveAt.UTC().Format(time.TimeOnly), a.Labels, a.Annotations["summary"])
	}
	_ = tw.Flush()
	return 0
}
