package main

import (
	"context"
	"fmt"
	"time"
)

type ingestOpts struct {
	sizes    []int
	interval time.Duration
	duration time.Duration
}

// runIngest scrapes gatewaysim at each size with no rules and reports the
// series held, the samples appended per second, the scrape duration and
// the resident memory per series at the end of the window.
func runIngest(ctx context.Context, e *env, o ingestOpts, r *Report) error {
	for _, n := range o.sizes {
		if err := ingestOne(ctx, e, o, n, r); err != nil {
			return fmt.Errorf("ingest %s: %w", formatSize(n), err)
		}
	}
	return nil
}

func ingestOne(ctx context.Context, e *env, o ingestOpts, n int, r *Report) error {
	pop := populationFor(n)
	e.logf("ingest: %d series (gatewaysim --masters=%d), scrape every %s for %s", pop.series(), pop.masters, o.interval, o.duration)
	sim, err := e.startSim(ctx, pop)
	if err != nil {
		return err
	}
	defer sim.stop()
	gw, err := e.startGatewarden(ctx, "ingest", scrapeConfig(sim, o.interval)+"rule_files: []\n", map[string]string{})
	if err != nil {
		return err
	}
	defer gw.stop()

	want := float64(pop.series()) * 0.99
	var before samples
	if err := waitFor(ctx, 2*time.Minute+3*o.interval, 250*time.Millisecond, "the first scrape", func() (bool, error) {
		ms, err := e.metrics(gw)
		before = ms
		return err == nil && ms.sum("prometheus_tsdb_head_series") >= want, err
	}); err != nil {
		return err
	}
	if err := sleep(ctx, o.duration); err != nil {
		return err
	}
	after, err := e.metrics(gw)
	if err != nil {
		return err
	}
	rss, err := gw.rss()
	if err != nil {
		return err
	}
	series := after.sum("prometheus_tsdb_head_series")
	scrapes := after.sum("gatewarden_scrape_duration_seconds_count") - before.sum("gatewarden_scrape_duration_seconds_count")
	ctxt := fmt.Sprintf("scrape %s, %s window", o.interval, o.duration)
	r.add(Figure{Key: "ingest.series", Size: n, Value: series, Unit: "series", Context: ctxt})
	// Per scrape rather than per second of the window, which a scrape
	// more or less inside it would skew.
	if scrapes > 0 {
		perScrape := (after.sum("prometheus_tsdb_head_samples_appended_total") - before.sum("prometheus_tsdb_head_samples_appended_total")) / scrapes
		took := (after.sum("gatewarden_scrape_duration_seconds_sum") - before.sum("gatewarden_scrape_duration_seconds_sum")) / scrapes
		r.add(Figure{Key: "ingest.samples_per_s", Size: n, Value: perScrape / o.interval.Seconds(), Unit: "samples/s", Context: ctxt + ", steady state"})
		r.add(Figure{Key: "ingest.scrape_duration", Size: n, Value: took, Unit: "s", Context: ctxt + ", mean, gatewaysim rendering included"})
		r.add(Figure{Key: "ingest.scrape_samples_per_s", Size: n, Value: perScrape / took, Unit: "samples/s", Context: ctxt + ", within a scrape"})
	}
	r.add(Figure{Key: "ingest.rss", Size: n, Value: rss, Unit: "B", Context: ctxt})
	r.add(Figure{Key: "ingest.rss_per_series", Size: n, Value: rss / series, Unit: "B", Context: ctxt})
	return nil
}
