package main

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/config"
)

// reloader loads the config file and hands it to every part that acts on it.
// A file that fails to load changes nothing: the running config stays.
type reloader struct {
	file     string
	external string // --web.external-url when set, for the receiver's links
	logger   *slog.Logger
	appliers []applier

	success     prometheus.Gauge
	successTime prometheus.Gauge
	ok          atomic.Bool // the gauge's value, for /api/v1/status/runtimeinfo

	mtx sync.Mutex
}

// applier is one part of the process that takes a new config.
type applier struct {
	name  string
	apply func(*config.Config) error
}

func newReloader(file, external string, reg prometheus.Registerer, logger *slog.Logger, appliers ...applier) *reloader {
	r := &reloader{
		file: file, external: external, logger: logger, appliers: appliers,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	reg.MustRegister(r.success, r.successTime)
	return r
}

// reload is safe to call from the signal handler and the HTTP endpoint at
// once; the two are serialised.
func (r *reloader) reload() error {
	r.mtx.Lock()
	defer r.mtx.Unlock()
	cfg, err := loadConfig(r.file, r.external)
	if err != nil {
		r.result(false)
		r.logger.Error("loading configuration failed; the running configuration stays", "file", r.file, "err", err)
		return fmt.Errorf("loading %s: %w", r.file, err)
	}
	return r.applyLocked(cfg)
}

// loadConfig reads the config file. A receiver without an external_url of
// its own links its notifications to external (--web.external-url), as
// Alertmanager's templates link to its own; with neither, no links.
func loadConfig(file, external string) (*config.Config, error) {
	cfg, err := config.LoadFile(file)
	if err == nil && cfg.Receiver != nil && cfg.Receiver.ExternalURL == "" {
		cfg.Receiver.ExternalURL = external
	}
	return cfg, err
}

// apply hands an already loaded config to every part, as the first load at
// start does.
func (r *reloader) apply(cfg *config.Config) error {
	r.mtx.Lock()
	defer r.mtx.Unlock()
	return r.applyLocked(cfg)
}

// applyLocked stops at the first part that refuses the config. Each part
// applies all or nothing, and the parts that can refuse come first, so a
// refused config changes nothing.
func (r *reloader) applyLocked(cfg *config.Config) error {
	start := time.Now()
	for _, a := range r.appliers {
		if err := a.apply(cfg); err != nil {
			r.result(false)
			r.logger.Error("applying configuration failed; the running configuration stays", "file", r.file, "part", a.name, "err", err)
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	r.result(true)
	r.successTime.SetToCurrentTime()
	r.logger.Info("configuration loaded", "file", r.file, "took", time.Since(start))
	return nil
}

func (r *reloader) result(ok bool) {
	r.ok.Store(ok)
	if ok {
		r.success.Set(1)
	} else {
		r.success.Set(0)
	}
}
