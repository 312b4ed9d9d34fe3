// Command gatewarden guards an LLM API gateway: it scrapes the gateway's
// usage counters into a local time-series store and serves them over the
// Prometheus HTTP API; later stages evaluate rules, throttle and notify.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/api"
	"github.com/gatewarden/gatewarden/collector"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/console"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/notifier"
	"github.com/gatewarden/gatewarden/overrides"
	"github.com/gatewarden/gatewarden/promapi"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/remote"
	"github.com/gatewarden/gatewarden/store"
	"github.com/gatewarden/gatewarden/throttle"
)

type flags struct {
	configFile  string
	storagePath string
	web         *web.FlagConfig
	webOpts     webOptions
	externalURL string
	// remoteFlushDeadline bounds how long a stop waits for remote_write
	// queues to drain: what is left is sent from the WAL by no one, as in
	// Prometheus, so it is a trade of data against a prompt stop.
	remoteFlushDeadline time.Duration
	// alignTimestamps and timestampTolerance are Prometheus's scrape
	// timestamp alignment, with its flags and defaults.
	alignTimestamps    bool
	timestampTolerance time.Duration
	samplesPerChunk    int
	log                promslog.Config
	values             map[string]string // every flag, for /api/v1/status/flags
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	app := kingpin.New("gatewarden", "Guards an LLM API gateway: scrapes its usage, evaluates threshold rules, throttles and notifies.")
	app.Version(version.Print("gatewarden"))
	app.HelpFlag.Short('h')
	app.Flag("config.file", "gatewarden configuration file path.").Default("gatewarden.yml").StringVar(&f.configFile)
	app.Flag("storage.path", "Base path for the local time-series store and state.").Default("data/").StringVar(&f.storagePath)
	f.web = kingpinflag.AddFlags(app, ":9095")
	app.Flag("web.enable-lifecycle", "Enable shutdown and reload via HTTP request (admin token when tokens are configured).").
		Default("false").BoolVar(&f.webOpts.lifecycle)
	app.Flag("web.enable-pprof", "Serve /debug/pprof/ without a token (otherwise it needs an admin token when tokens are configured).").
		Default("false").BoolVar(&f.webOpts.pprof)
	app.Flag("web.external-url", "The URL under which gatewarden is reachable (behind a reverse proxy, say), for the generatorURL of its alerts and, unless receiver.external_url says otherwise, the links in its notifications. Default: http://<hostname>:<port> (for generatorURL only).").
		StringVar(&f.externalURL)
	app.Flag("storage.remote.flush-deadline", "How long to wait flushing remote_write queues on shutdown or when an endpoint's config changes.").
		Default("5s").DurationVar(&f.remoteFlushDeadline)
	app.Flag("scrape.adjust-timestamps", "Stamp a scrape that starts up to --scrape.timestamp-tolerance late with its slot on the interval's grid, as Prometheus does: a jittery timestamp nearly doubles a series' chunk in memory.").
		Default("true").BoolVar(&f.alignTimestamps)
	app.Flag("scrape.timestamp-tolerance", "How late a scrape may start and still be stamped with its slot (at most 1% of the scrape interval).").
		Default("2ms").DurationVar(&f.timestampTolerance)
	app.Flag("storage.tsdb.samples-per-chunk", "Target number of samples per head chunk (Prometheus's hidden flag of the same name).").
		Default("120").Hidden().IntVar(&f.samplesPerChunk)
	promslogflag.AddFlags(app, &f.log)
	_, err := app.Parse(args)
	f.values = flagValues(app)
	return f, err
}

// scrapeTolerance is the collector's alignment tolerance: none when
// alignment is off.
func (f *flags) scrapeTolerance() time.Duration {
	if !f.alignTimestamps {
		return 0
	}
	return f.timestampTolerance
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := promslog.New(&f.log)
	if err := runDaemon(f, logger); err != nil {
		logger.Error("gatewarden stopped", "err", err)
		os.Exit(1)
	}
}

func runDaemon(f *flags, logger *slog.Logger) error {
	started := time.Now()
	logger.Info("starting gatewarden", "version", version.Info(), "build_context", version.BuildContext())
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("gatewarden"),
	)

	// Signals are caught before anything else: SIGHUP must not kill the
	// process while the WAL replays; the reload actor handles the signals
	// that arrive meanwhile.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Likewise SIGTERM: caught from the start, so a stop during the WAL
	// replay waits for it and then shuts down cleanly instead of killing
	// the process halfway through opening its stores.
	term := make(chan os.Signal, 1)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(term)

	// The listener comes first so /-/healthy and /-/ready answer while the
	// WAL replays, which can take a while on a large store.
	var ready atomic.Bool
	guard := access.New()
	h := newHandler(reg, &ready, guard, f.webOpts)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, f.web, logger) }()
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}

	external, err := externalURL(f.externalURL, *f.web.WebListenAddresses)
	if err != nil {
		shutdown()
		return err
	}
	// The first load fails the start: there is no running config to keep.
	// Only a URL the operator gave: a derived http://<hostname>:<port>
	// is good enough for generatorURL, but a notification's Ack link to
	// it would be dead wherever the hostname does not resolve for readers.
	linked := ""
	if f.externalURL != "" {
		linked = external
	}
	cfg, err := loadConfig(f.configFile, linked)
	if err != nil {
		shutdown()
		return err
	}
	dbStats := tsdb.NewDBStats() // the WAL replay's progress, for the API
	tsdbDir := filepath.Join(f.storagePath, "tsdb")
	db, err := openTSDB(tsdbDir, cfg, f.samplesPerChunk, reg, logger, dbStats)
	if err != nil {
		shutdown()
		return err
	}
	defer func() {
		// Closing flushes the WAL: the data of the last scrapes survives.
		if err := db.Close(); err != nil {
			logger.Error("closing the local store failed", "err", err)
		}
	}()
	// Before the TSDB closes (defers run last first): the queues read its WAL.
	remoteWrite := remote.NewWriter(db, tsdbDir, f.remoteFlushDeadline, reg, logger.With("component", "remote"))
	defer func() {
		if err := remoteWrite.Close(); err != nil {
			logger.Error("closing remote_write failed", "err", err)
		}
	}()

	sql, err := store.Open(context.Background(), store.Options{
		Path: f.storagePath, DatabaseURL: cfg.Storage.Database(),
		Logger: logger.With("component", "store"), Registerer: reg,
	})
	if err != nil {
		shutdown()
		return err
	}
	defer sql.Close()
	thresholds := overrides.New(sql, logger.With("component", "overrides"), reg)
	if err := thresholds.Reload(context.Background()); err != nil {
		logger.Warn("loading threshold overrides failed; rules use their own thresholds until the store answers", "err", err)
	}
	recorder := receiver.NewRecorder(sql, 200_000, logger.With("component", "recorder"), reg)
	rcv := newReceiverParts(sql, recorder, peerName(f), reg, logger)

	engine := promapi.NewEngine(reg, logger.With("component", "query engine"), 2*time.Minute, 50_000_000)
	throttles, err := newThrottle(cfg, sql, throttle.PromQLSampler{Engine: engine, Queryable: db}, rcv, reg, logger)
	if err != nil {
		shutdown()
		return err
	}
	scrapes := collector.NewManager(collector.Options{
		Appendable: remoteWrite, Registerer: reg, Logger: logger.With("component", "collector"),
		TimestampTolerance: f.scrapeTolerance(),
	})
	notifyOpts := notifier.DefaultOptions()
	notifyOpts.Registerer, notifyOpts.Logger = reg, logger.With("component", "notifier")
	alertmanagers := notifier.New(notifyOpts)
	evals := evaluator.NewManager(evaluator.Options{
		Queryable: db, Appendable: remoteWrite, Engine: engine, Notify: sendTo(alertmanagers, rcv.inbox, throttles),
		Registerer: reg, Logger: logger.With("component", "evaluator"),
		SnapshotFile: filepath.Join(f.storagePath, "rules.snapshot"),
		Thresholds:   thresholds,
		Steps:        stepLedger{sql},
		ExternalURL:  external,
	})
	scrapes.Subscribe(evals.OnScrape)
	reg.MustRegister(evals.AlertsCollector())
	admin := api.New(api.Options{
		Store: sql, Overrides: thresholds, Channels: rcv.integrations, Guard: guard, Rules: evals,
		Logger: logger.With("component", "api"), Registerer: reg,
	})
	admin.SetThrottles(throttles)
	status := &running{}
	reload := newReloader(f.configFile, linked, reg, logger,
		// The appliers that can fail come first, rule files (the likeliest
		// to be wrong) before them all: a failed reload stops at the first
		// error, before anything else changed.
		applier{"remote_write check", remoteWrite.Check}, // a dry run: changes nothing
		applier{"rules", evals.ApplyConfig},
		applier{"remote_write", remoteWrite.ApplyConfig},
		applier{"collector", scrapes.ApplyConfig},
		applier{"notifier", alertmanagers.ApplyConfig},
		applier{"runtime", applyRuntime},
		applier{"receiver", rcv.apply},
		applier{"throttle", applyThrottle(throttles, logger)},
		applier{"api", admin.ApplyConfig},
		applier{"access", func(c *config.Config) error { guard.Apply(c); return nil }},
		applier{"storage", keepDatabase(cfg.Storage.Database(), logger)},
		applier{"status", status.apply},
	)
	if err := reload.apply(cfg); err != nil {
		shutdown()
		return err
	}
	api := http.NewServeMux()
	promapi.New(promapi.Options{
		Queryable: db,
		Engine:    engine,
		Targets:   scrapes,
		Rules:     evals,
		BuildInfo: buildInfo(),
		Logger:    logger,
		Metadata:  scrapes, Config: status.config, Reloaded: status.reloaded(reload), Flags: f.values, StartTime: started,
		Head: db, DBStats: dbStats, Gatherer: reg, Alertmanagers: alertmanagersOf(alertmanagers, status),
	}).Register(api)
	h.mux.Handle("/api/", guard.Require(access.Read, promapi.Denial, gzipped(api)))
	h.mux.Handle("/federate", guard.Require(access.Read, access.PlainDenial, gzipped(remote.NewFederation(remote.Federation{
		Queryable: db, External: status.externalLabels, Lookback: promapi.DefaultLookbackDelta, Now: time.Now,
		Logger: logger.With("component", "federation"),
	}, reg))))
	admin.Register(h.mux)
	rcv.register(h.mux, guard)
	console.New().Register(h.mux)
	ready.Store(true)

	var g run.Group
	{
		stop := make(chan struct{})
		g.Add(func() error {
			select {
			case sig := <-term:
				return run.SignalError{Signal: sig}
			case <-h.quit:
				return run.SignalError{Signal: syscall.SIGTERM}
			case <-stop:
				return nil
			}
		}, func(error) { close(stop) })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return scrapes.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return evals.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return alertmanagers.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return recorder.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return thresholds.Run(ctx, overridesRefresh) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return rcv.dispatcher.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return rcv.delivery.Run(ctx) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return pruneLedger(ctx, sql, logger.With("component", "ledger")) }, func(error) { cancel() })
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return rcv.silences.Run(ctx, silencesRefresh) }, func(error) { cancel() })
	}
	if throttles != nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return throttles.Run(ctx) }, func(error) { cancel() })
	}
	if rcv.peers != nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return rcv.peers.Run(ctx) }, func(error) { cancel() })
	}
	{
		memory := newHeapRelease(reg)
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return memory.run(ctx) }, func(error) { cancel() })
	}
	{
		stop := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					_ = reload.reload()
				case done := <-h.reloadCh:
					done <- reload.reload()
				case <-stop:
					return nil
				}
			}
		}, func(error) {
			close(stop)
			close(h.stopping)
		})
	}
	{
		g.Add(func() error {
			if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func(error) { shutdown() })
	}
	err = g.Run()
	if errors.Is(err, run.ErrSignal) {
		logger.Info("shutting down", "reason", err)
		return nil
	}
	return err
}

// peerName names this process in the notification ledger's claims: the
// host and the port it listens on, which tells apart receivers sharing a
// store (and a host).
func peerName(f *flags) string {
	host, _ := os.Hostname()
	port := ""
	if f.web.WebListenAddresses != nil && len(*f.web.WebListenAddresses) > 0 {
		if _, p, err := net.SplitHostPort((*f.web.WebListenAddresses)[0]); err == nil {
			port = p
		}
	}
	return host + ":" + port
}

func openTSDB(dir string, cfg *config.Config, samplesPerChunk int, reg prometheus.Registerer, logger *slog.Logger, stats *tsdb.DBStats) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	opts.SamplesPerChunk = samplesPerChunk
	opts.RetentionDuration = time.Duration(cfg.Storage.Retention).Milliseconds()
	// Prometheus's 16384 lock stripes suit a server with millions of series
	// and many writers; a sidecar with a few scrape loops saves 3 MB.
	opts.StripeSize = 4096
	// Isolation keeps a ring of append IDs per series (80 bytes each) so a
	// query never sees half an append. A scrape lands in one commit and the
	// rules run after it, so only a dashboard refreshing mid-commit could
	// notice; the memory is better spent on series.
	opts.IsolationDisabled = true
	// The head writes a cut chunk through a 4 MiB buffer by default;
	// 256 KiB takes 16 times as many writes of the chunks cut together
	// and keeps 3.75 MiB less resident.
	opts.HeadChunksWriteBufferSize = 256 << 10
	db, err := tsdb.Open(dir, logger.With("component", "tsdb"), reg, opts, stats)
	if err != nil {
		return nil, fmt.Errorf("opening the local store in %s: %w", dir, err)
	}
	return db, nil
}

// overridesRefresh is how soon an override written through another
// gatewarden sharing the store applies here.
const overridesRefresh = 30 * time.Second

// sendTo hands the evaluator's alerts to the Alertmanager notifier and to
// the store in Alertmanager's alert model: EndsAt is the resolution, or how
// long a firing alert stays valid without a re-send.
func sendTo(n *notifier.Manager, in receiver.Inbox, t *throttle.Controller) func(context.Context, []*evaluator.Alert) {
	return func(ctx context.Context, alerts []*evaluator.Alert) {
		if t != nil {
			// In the evaluation that saw the anomalous sample: the
			// decision is made now, the gateway called by its workers.
			t.Observe(ctx, throttle.FromAlerts(alerts))
		}
		out := make([]*notifier.Alert, 0, len(alerts))
		rec := make([]receiver.Alert, 0, len(alerts))
		for _, a := range alerts {
			ra := receiverAlert(a)
			out = append(out, &notifier.Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: ra.StartsAt, EndsAt: ra.EndsAt, GeneratorURL: a.GeneratorURL})
			rec = append(rec, ra)
		}
		n.Send(out...)
		_ = in.Take(ctx, rec, true)
	}
}

// keepDatabase warns that a changed database URL needs a restart: moving
// the alerts, outbox and history to another database under a running
// receiver would lose or repeat notifications.
func keepDatabase(running string, logger *slog.Logger) func(*config.Config) error {
	return func(cfg *config.Config) error {
		if cfg.Storage.Database() != running {
			logger.Warn("storage database_url changed: it applies after a restart; the running store stays in use")
		}
		return nil
	}
}

// applyRuntime sets the GC target from the config unless the operator set
// GOGC in the environment, which wins as it does for Prometheus.
func applyRuntime(cfg *config.Config) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GOGC)
	}
	return nil
}

func buildInfo() map[string]string {
	return map[string]string{
		"application": "gatewarden", "version": version.Version, "revision": version.Revision, "branch": version.Branch,
		"buildUser": version.BuildUser, "buildDate": version.BuildDate, "goVersion": version.GoVersion,
	}
}
