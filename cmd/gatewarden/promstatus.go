package main

import (
	"net/url"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/notifier"
)

// A binary built without the Makefile's -X flags still names its version:
// the VERSION file's, embedded.
func init() {
	if version.Version == "" {
		version.Version = gatewarden.Version
	}
}

// flagValues are the parsed flags by name, as Prometheus's /status/flags
// shows them. No flag holds a secret: credentials live in files.
func flagValues(app *kingpin.Application) map[string]string {
	out := map[string]string{}
	for _, f := range app.Model().Flags {
		out[f.Name] = f.Value.String()
	}
	return out
}

// running keeps the config the last successful (re)load applied and when,
// for the status endpoints. Its applier comes last, so it only sees a
// config every other part took.
type running struct {
	cfg atomic.Pointer[config.Config]
	at  atomic.Int64 // unix nanoseconds of the last successful load
}

func (r *running) apply(cfg *config.Config) error {
	r.cfg.Store(cfg)
	r.at.Store(time.Now().UnixNano())
	return nil
}

func (r *running) config() *config.Config { return r.cfg.Load() }

// externalLabels are the running config's, for /federate.
func (r *running) externalLabels() labels.Labels {
	if cfg := r.config(); cfg != nil {
		return labels.FromMap(cfg.Global.ExternalLabels)
	}
	return labels.EmptyLabels()
}

// reloaded says how the last reload went and when one last worked.
func (r *running) reloaded(rl *reloader) func() (bool, time.Time) {
	return func() (bool, time.Time) { return rl.ok.Load(), time.Unix(0, r.at.Load()) }
}

// alertmanagersOf lists where evaluated alerts go: the configured
// Alertmanagers and, by its external URL when one is set, gatewarden's own
// receiver, which gets every alert in process.
func alertmanagersOf(n *notifier.Manager, r *running) func() []*url.URL {
	return func() []*url.URL {
		out := n.Alertmanagers()
		if cfg := r.config(); cfg != nil && cfg.Receiver != nil && cfg.Receiver.ExternalURL != "" {
			if u, err := url.Parse(cfg.Receiver.ExternalURL); err == nil {
				out = append(out, u.JoinPath("/api/v2/alerts"))
			}
		}
		return out
	}
}
