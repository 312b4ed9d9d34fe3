package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// neutralTarget serves an exposition gatewarden did not choose: n counter
// series with labels master, key, provider, model and code, every key
// unique, every value changing at every scrape. It renders by appending
// to prepared lines, so the load generator costs little beside the two
// scrapers it feeds.
type neutralTarget struct {
	mu      sync.Mutex
	lines   [][]byte // each series up to and including the space before the value
	scrapes int
	buf     []byte
	srv     *http.Server
	addr    string
}

func startNeutralTarget(n int) (*neutralTarget, error) {
	t := &neutralTarget{}
	for i := range n {
		t.lines = append(t.lines, fmt.Appendf(nil,
			`neutral_requests_total{master="m%d",key="m%d-k%d",provider="p%d",model="model-%d",code="%d"} `,
			i/1000, i/1000, i%1000, i%5, i%7, 200+i%10))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.addr = ln.Addr().String()
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *neutralTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scrapes++
	b := append(t.buf[:0], "# HELP neutral_requests_total Requests.\n# TYPE neutral_requests_total counter\n"...)
	for i, l := range t.lines {
		b = append(b, l...)
		b = strconv.AppendInt(b, int64(t.scrapes*(1+i%13)), 10)
		b = append(b, '\n')
	}
	t.buf = b
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(b)
}

func (t *neutralTarget) stop() { _ = t.srv.Close() }

// cpuSeconds is the process's user and system time so far, from
// /proc/PID/stat (clock ticks of 1/100 s, as Linux reports them).
func (p *proc) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", p.cmd.Process.Pid, len(fields))
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", p.cmd.Process.Pid, fields[11], fields[12])
	}
	return (utime + stime) / 100, nil
}

// ingestPromOpts: the neutral exposition scraped by gatewarden and by
// Prometheus at once.
type ingestPromOpts struct {
	prometheus string
	series     int
	interval   time.Duration
	duration   time.Duration
}

// runIngestProm measures memory per series and CPU per scrape of both
// scrapers over the same neutral target, in one run, after the first full
// scrape of each.
func runIngestProm(ctx context.Context, e *env, o ingestPromOpts, r *Report) error {
	return runNeutral(ctx, e, o, r, neutralRun{
		key: "ingest_prom", gwConfig: "rule_files: []\n",
		prometheus: func(ctx context.Context, cfg string) (*proc, error) {
			return e.startPrometheus(ctx, o.prometheus, cfg, map[string]string{})
		},
		series: [2]string{"prometheus_tsdb_head_series", "prometheus_tsdb_head_series"},
	})
}

// neutralRun is what a side-by-side run over the neutral target varies:
// what gatewarden's config adds, which Prometheus runs beside it, and the
// metric each reports its series count in.
type neutralRun struct {
	key        string // the figures' prefix
	gwConfig   string // appended to the shared scrape config
	promConfig string // likewise, for Prometheus
	prometheus func(ctx context.Context, config string) (*proc, error)
	series     [2]string // gatewarden's, Prometheus's
	sent       bool      // report the samples each remote-wrote
}

func runNeutral(ctx context.Context, e *env, o ingestPromOpts, r *Report, n neutralRun) error {
	if o.prometheus == "" {
		return fmt.Errorf("%s runs Prometheus beside gatewarden: build it (make prometheus) and pass --prometheus=bin/prometheus", n.key)
	}
	target, err := startNeutralTarget(o.series)
	if err != nil {
		return err
	}
	defer target.stop()
	e.logf("%s: %d neutral series scraped every %s by gatewarden and Prometheus for %s", n.key, o.series, o.interval, o.duration)
	cfg := strings.Replace(scrapeConfig(&proc{addr: target.addr}, o.interval), "job_name: gateway", "job_name: neutral", 1)
	gw, err := e.startGatewarden(ctx, n.key, cfg+n.gwConfig, map[string]string{})
	if err != nil {
		return err
	}
	defer gw.stop()
	prom, err := n.prometheus(ctx, cfg+n.promConfig)
	if err != nil {
		return err
	}
	defer prom.stop()
	sides := []*proc{gw, prom}
	want := float64(o.series) * 0.99
	if err := waitFor(ctx, 2*time.Minute+3*o.interval, 250*time.Millisecond, "the first full scrapes", func() (bool, error) {
		for i, p := range sides {
			ms, err := e.metrics(p)
			if err != nil || ms.sum(n.series[i]) < want {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	var cpu0, sent0, rss0 [2]float64
	for i, p := range sides {
		if cpu0[i], err = p.cpuSeconds(); err != nil {
			return err
		}
		if rss0[i], err = p.rss(); err != nil {
			return err
		}
		if n.sent {
			if sent0[i], err = e.sentSamples(p); err != nil {
				return err
			}
		}
	}
	peak, err := peakRSS(ctx, sides, o.duration, o.interval)
	if err != nil {
		return err
	}
	return reportNeutral(e, r, o, n, sides, cpu0, sent0, rss0, peak)
}

// peakRSS reads each side's RSS every step for d and returns the highest
// of each: where in its chunk and GC cycles a process stands when the
// window ends moves the end reading by tens of MB.
func peakRSS(ctx context.Context, sides []*proc, d, step time.Duration) ([2]float64, error) {
	var peak [2]float64
	end := time.Now().Add(d)
	for {
		for i, p := range sides {
			rss, err := p.rss()
			if err != nil {
				return peak, err
			}
			peak[i] = max(peak[i], rss)
		}
		left := time.Until(end)
		if left <= 0 {
			return peak, nil
		}
		if err := sleep(ctx, min(step, left)); err != nil {
			return peak, err
		}
	}
}

func (e *env) sentSamples(p *proc) (float64, error) {
	ms, err := e.metrics(p)
	return ms.sum("prometheus_remote_storage_samples_total"), err
}

func reportNeutral(e *env, r *Report, o ingestPromOpts, n neutralRun, sides []*proc, cpu0, sent0, rss0, peak [2]float64) error {
	scrapes := o.duration.Seconds() / o.interval.Seconds()
	ctxt := fmt.Sprintf("%d neutral counter series, every value changing, scraped every %s by both for %s", o.series, o.interval, o.duration)
	var perSeries, perScrape [2]float64
	for i, p := range sides {
		ms, err := e.metrics(p)
		if err != nil {
			return err
		}
		rss, err := p.rss()
		if err != nil {
			return err
		}
		cpu, err := p.cpuSeconds()
		if err != nil {
			return err
		}
		perSeries[i] = rss / ms.sum(n.series[i])
		perScrape[i] = (cpu - cpu0[i]) / scrapes
		r.add(Figure{Key: n.key + ".rss_per_series." + p.name, Size: o.series, Value: perSeries[i], Unit: "B", Context: ctxt})
		r.add(Figure{Key: n.key + ".cpu_per_scrape." + p.name, Size: o.series, Value: perScrape[i], Unit: "s", Context: "user + system CPU over the window ÷ intervals"})
		r.add(Figure{Key: n.key + ".rss_peak_per_series." + p.name, Size: o.series, Value: peak[i] / ms.sum(n.series[i]), Unit: "B", Context: "the highest RSS read over the window (every interval) ÷ series"})
		r.add(Figure{Key: n.key + ".rss_growth." + p.name, Size: o.series, Value: rss / rss0[i], Unit: "× start", Context: "RSS at the end of the window ÷ at its start, when every series was held once"})
		if n.sent {
			sent := (ms.sum("prometheus_remote_storage_samples_total") - sent0[i]) / scrapes
			r.add(Figure{Key: n.key + ".sent_per_scrape." + p.name, Size: o.series, Value: sent, Unit: "samples", Context: "prometheus_remote_storage_samples_total over the window ÷ intervals"})
		}
	}
	r.add(Figure{Key: n.key + ".rss_ratio", Size: o.series, Value: perSeries[0] / perSeries[1], Unit: "× Prometheus", Context: "gatewarden's RSS per series ÷ Prometheus's"})
	r.add(Figure{Key: n.key + ".rss_peak_ratio", Size: o.series, Value: peak[0] / peak[1], Unit: "× Prometheus", Context: "gatewarden's highest RSS over the window ÷ Prometheus's (both hold the same series)"})
	r.add(Figure{Key: n.key + ".cpu_ratio", Size: o.series, Value: perScrape[0] / perScrape[1], Unit: "× Prometheus", Context: "gatewarden's CPU per scrape ÷ Prometheus's"})
	return nil
}
