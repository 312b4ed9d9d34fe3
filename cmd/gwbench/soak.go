package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

type soakOpts struct {
	series   int
	duration time.Duration
	interval time.Duration
}

// runSoak runs the whole daemon at moderate load: the built-in rule pack
// over soakOpts.series series, the receiver taking 100 alerts/s from 1,000
// distinct ones, and samples RSS and goroutines 40 times. Flat means the
// median of the last quarter is within the target of the second quarter's
// (the first quarter is the warm-up: the head's first chunks, the store).
func runSoak(ctx context.Context, e *env, o soakOpts, r *Report) error {
	pop := populationFor(o.series)
	sim, err := e.startSim(ctx, pop)
	if err != nil {
		return err
	}
	defer sim.stop()
	cfg := scrapeConfig(sim, o.interval) + "receiver:\n  route: {receiver: blackhole, group_by: [alertname]}\n  receivers: [{name: blackhole}]\n"
	gw, err := e.startGatewarden(ctx, "soak", cfg, map[string]string{})
	if err != nil {
		return err
	}
	defer gw.stop()
	e.logf("soak: %d series, built-in rules, 100 alerts/s, for %s", pop.series(), o.duration)

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan error, 1)
	go func() { loadDone <- steadyLoad(loadCtx, "http://"+gw.addr+ingestPaths["v2"]) }()

	var rss, goroutines []float64
	step := o.duration / 40
	for range 40 {
		if err := sleep(ctx, step); err != nil {
			return err
		}
		select {
		case err := <-loadDone:
			return fmt.Errorf("the alert load stopped: %w", err)
		default:
		}
		ms, err := e.metrics(gw)
		if err != nil {
			return err
		}
		b, err := gw.rss()
		if err != nil {
			return err
		}
		rss, goroutines = append(rss, b), append(goroutines, ms.sum("go_goroutines"))
	}
	ctxt := fmt.Sprintf("%d series, scrape %s, built-in rules, 100 alerts/s, %s", pop.series(), o.interval, o.duration)
	r.add(Figure{Key: "soak.rss", Value: rss[len(rss)-1], Unit: "B", Context: ctxt})
	r.add(Figure{Key: "soak.rss_growth", Value: growth(rss), Unit: "%", Context: ctxt})
	r.add(Figure{Key: "soak.goroutines", Value: goroutines[len(goroutines)-1], Unit: "goroutines", Context: ctxt})
	r.add(Figure{Key: "soak.goroutine_growth", Value: growth(goroutines), Unit: "%", Context: ctxt})
	return nil
}

// growth is the change, in percent, from the median of the second quarter
// of the samples to the median of the last quarter.
func growth(xs []float64) float64 {
	q := len(xs) / 4
	if q == 0 {
		return 0
	}
	a, b := median(xs[q:2*q]), median(xs[len(xs)-q:])
	if a == 0 {
		return 0
	}
	return 100 * (b - a) / a
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// steadyLoad posts 10 alerts every 100 ms, cycling through 1,000.
func steadyLoad(ctx context.Context, url string) error {
	bodies := alertBodies("v2", 1000, 10)
	l := &load{url: url, bodies: bodies, clients: 1, requests: 1}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		l.bodies = bodies[i%len(bodies):][:1]
		if _, err := l.run(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
}
