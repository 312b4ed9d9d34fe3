package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// population sizes gatewaysim. The key, provider and model counts are the
// ones docs/benchmarks.md uses, so only masters vary with the series asked.
type population struct {
	masters, keys, providers, models int
	tenants, plugins, instances      int
	tick                             time.Duration
}

// populationFor picks the masters giving about n series.
func populationFor(n int) population {
	p := population{
		masters: 1,
		keys:    10, providers: 5, models: 4,
		tenants: 2, plugins: 2, instances: 2,
		tick: time.Second,
	}
	// What one more master adds (docs/gatewaysim.md: 200 routes × 7, 20
	// latency histograms × 17, 6 master gauges), as gatewaysim counts it.
	two := p
	two.masters = 2
	perMaster := two.series() - p.series()
	p.masters = max(1, int(math.Round(float64(n)/float64(perMaster))))
	return p
}

// series is what gatewaysim will expose.
func (p population) series() int {
	return gatewaysim.Options{
		Masters: p.masters, KeysPerMaster: p.keys, Providers: p.providers, Models: p.models,
		Tenants: p.tenants, PluginsPerTenant: p.plugins, InstancesPerPlugin: p.instances,
	}.SeriesCount()
}

func (e *env) startSim(ctx context.Context, pop population) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return e.start(ctx, "gatewaysim", addr,
		"--web.listen-address="+addr, "--log.level=warn", "--bursts-per-hour=0",
		"--tick="+pop.tick.String(),
		"--masters="+strconv.Itoa(pop.masters), "--keys-per-master="+strconv.Itoa(pop.keys),
		"--providers="+strconv.Itoa(pop.providers), "--models="+strconv.Itoa(pop.models),
		"--tenants="+strconv.Itoa(pop.tenants), "--plugins-per-tenant="+strconv.Itoa(pop.plugins),
		"--instances-per-plugin="+strconv.Itoa(pop.instances))
}

// startGatewarden writes config (and any rule files) into a directory of
// its own and starts gatewarden on it with a fresh store.
func (e *env) startGatewarden(ctx context.Context, name, config string, files map[string]string) (*proc, error) {
	files["gatewarden.yml"] = config
	dir, addr, err := e.workDir(name, files)
	if err != nil {
		return nil, err
	}
	return e.start(ctx, "gatewarden", addr,
		"--config.file="+filepath.Join(dir, "gatewarden.yml"), "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
}

// workDir is a fresh directory under the work directory holding files,
// and a free address for the process that will read them.
func (e *env) workDir(name string, files map[string]string) (dir, addr string, err error) {
	dir = filepath.Join(e.work, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			return "", "", err
		}
	}
	addr, err = freeAddr()
	return dir, addr, err
}

// scrapeConfig is a global block and one job scraping the sim.
func scrapeConfig(sim *proc, interval time.Duration) string {
	return fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: [%q]}]
`, promDuration(interval), promDuration(min(interval, 10*time.Second)*9/10), promDuration(interval), sim.addr)
}

// promDuration writes a duration as Prometheus configs spell it (1m, not 1m0s).
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// waitFor polls cond every step until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout, step time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(step):
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
