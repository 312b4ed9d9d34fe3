// Command gatewaysim runs a simulated ez-api gateway; see package gatewaysim
// for its flags, scenarios and endpoints.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

func main() {
	if err := runMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaysim:", err)
		os.Exit(1)
	}
}

func runMain(args []string) error {
	app := kingpin.New("gatewaysim", "A simulated ez-api gateway: usage metrics, plugin CPU, the throttle endpoint and scenarios.")
	app.HelpFlag.Short('h')
	opts := gatewaysim.DefaultOptions()
	intFlag := func(name, help string, v *int) {
		app.Flag(name, help).Default(strconv.Itoa(*v)).IntVar(v)
	}
	intFlag("masters", "Master keys.", &opts.Masters)
	intFlag("keys-per-master", "Child keys per master.", &opts.KeysPerMaster)
	intFlag("providers", "Upstream providers.", &opts.Providers)
	intFlag("models", "Models per provider.", &opts.Models)
	intFlag("tenants", "Plugin tenants.", &opts.Tenants)
	intFlag("plugins-per-tenant", "Plugins per tenant.", &opts.PluginsPerTenant)
	intFlag("instances-per-plugin", "Instances per plugin.", &opts.InstancesPerPlugin)
	app.Flag("seed", "Random seed; the same seed gives the same traffic.").
		Default(strconv.FormatUint(opts.Seed, 10)).Uint64Var(&opts.Seed)
	app.Flag("tick", "Simulation step.").Default(opts.Tick.String()).DurationVar(&opts.Tick)
	app.Flag("bursts-per-hour", "Average traffic bursts per master per hour; 0 disables them.").
		Default(strconv.FormatFloat(opts.BurstsPerHour, 'g', -1, 64)).Float64Var(&opts.BurstsPerHour)
	app.Flag("throttle-fail-rate", "Fraction of throttle PATCHes answered 503.").Default("0").Float64Var(&opts.ThrottleFailRate)
	app.Flag("throttle-latency", "Delay before answering a throttle PATCH.").Default("0s").DurationVar(&opts.ThrottleLatency)
	app.Flag("throttle-unsupported", "Glob on plugin_id whose throttle PATCHes are answered 501 (repeatable).").
		PlaceHolder("GLOB").StringsVar(&opts.ThrottleUnsupported)
	scenarios := app.Flag("scenario", `Scenario to start: a name, or JSON as POST /sim/scenario takes, e.g. '{"name":"error-burst","target":{"master":"m1"}}' (repeatable).`).
		PlaceHolder("NAME|JSON").Strings()
	traceFile := app.Flag("scenario.trace", "CPU trace to replay from the start as the cpu-trace scenario: CSV with the header timestamp,tenant_id,plugin_id,instance_id,cpu.").
		PlaceHolder("FILE").String()
	traceSpeed := app.Flag("scenario.trace.speed", "Trace seconds --scenario.trace replays per second.").Default("1").Float64()
	app.Flag("sink-secret", "Secret the webhook sink (/sim/webhook) and the Feishu stand-in (/sim/feishu/{token}) check signatures with; empty accepts unsigned deliveries.").
		StringVar(&opts.SinkSecret)
	listen := app.Flag("web.listen-address", "Address to serve /metrics and the APIs on.").Default("127.0.0.1:9300").String()
	logConfig := &promslog.Config{}
	flag.AddFlags(app, logConfig)
	if _, err := app.Parse(args); err != nil {
		return err
	}
	logger := promslog.New(logConfig)

	for _, v := range *scenarios {
		req, err := gatewaysim.ParseScenarioFlag(v)
		if err != nil {
			return err
		}
		opts.Scenarios = append(opts.Scenarios, req)
	}
	if *traceFile != "" {
		b, err := os.ReadFile(*traceFile)
		if err != nil {
			return err
		}
		opts.Scenarios = append(opts.Scenarios, gatewaysim.ScenarioRequest{Name: "cpu-trace", Trace: string(b),
			TraceName: *traceFile, Params: map[string]float64{"speed": *traceSpeed}})
	}
	sim, err := gatewaysim.New(opts, logger)
	if err != nil {
		return err
	}
	// Listening before the group starts reports a busy port as a startup
	// error rather than as the first actor to exit.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("gatewaysim started", "address", ln.Addr().String(), "series", opts.SeriesCount())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g run.Group
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error { return sim.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		// A scrape held by a hanging outage would block Shutdown; after the
		// grace period Close cuts it off.
		shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
		}
	})
	err = g.Run()
	if errors.As(err, &run.SignalError{}) {
		logger.Info("gatewaysim stopped", "reason", err)
		return nil
	}
	return err
}
