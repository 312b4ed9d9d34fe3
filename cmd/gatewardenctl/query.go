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

func queryInstant(stdout, stderr io.Writer, url, expr string) int {
	c, err := client(url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, warnings, err := c.Query(ctx, expr, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "query failed: %v\n", err)
		return 1
	}
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
	c, err := client(url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Targets(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "listing targets failed: %v\n", err)
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
	c, err := client(url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Alerts(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "listing alerts failed: %v\n", err)
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
