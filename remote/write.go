// Package remote takes gatewarden's data beyond its node: remote_write of
// the local TSDB through Prometheus's own storage/remote, which reads the
// TSDB's write-ahead log as Prometheus (and its agent mode) does, and
// /federate as Prometheus serves it.
package remote

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	promremote "github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
)

// Writer sends every sample the local TSDB stores — scraped, recorded and
// ALERTS — to the configured remote_write endpoints. The queues read the
// WAL rather than the appends, so an endpoint that is down holds nothing
// in memory: the queue stops reading and resumes where it stopped, as long
// as the WAL still has the segment (the head keeps two to three hours).
type Writer struct {
	rs     *promremote.Storage
	db     *tsdb.DB
	redact *redactor
	logger *slog.Logger
}

// NewWriter starts the remote storage over the TSDB in dir; flushDeadline
// bounds how long a stop or a changed endpoint waits for queued samples.
func NewWriter(db *tsdb.DB, dir string, flushDeadline time.Duration, reg prometheus.Registerer, logger *slog.Logger) *Writer {
	// No scrape manager: metadata of protocol v1 comes from Prometheus's
	// scrape manager, which gatewarden does not run (docs/fleet.md).
	redact := newRedactor(logger.Handler())
	rs := promremote.NewStorage(slog.New(redact), reg, db.StartTime, dir, flushDeadline, nil, false)
	// The watcher is woken at every WAL write instead of polling it.
	db.SetWriteNotified(rs)
	return &Writer{rs: rs, db: db, redact: redact, logger: slog.New(redact)}
}

// ApplyConfig starts, changes or stops queues as the remote_write section
// says; unchanged endpoints keep their queue and position.
func (w *Writer) ApplyConfig(cfg *config.Config) error {
	w.redact.learn(cfg.RemoteWriteConfigs)
	return w.rs.ApplyConfig(cfg.Prometheus())
}

// Check builds the endpoints' clients without starting anything: what
// would make ApplyConfig fail (a TLS file missing, say) fails a reload
// before any part has taken the new config.
func (w *Writer) Check(cfg *config.Config) error {
	for _, rw := range cfg.Prometheus().RemoteWriteConfigs {
		_, err := promremote.NewWriteClient("check", &promremote.ClientConfig{
			URL: rw.URL, Timeout: rw.RemoteTimeout, HTTPClientConfig: rw.HTTPClientConfig,
			SigV4Config: rw.SigV4Config, AzureADConfig: rw.AzureADConfig, GoogleIAMConfig: rw.GoogleIAMConfig,
			Headers: rw.Headers, WriteProtoMsg: rw.ProtobufMessage, RoundRobinDNS: rw.RoundRobinDNS,
		})
		if err != nil {
			return fmt.Errorf("remote_write %s: %w", rw.URL.Redacted(), err)
		}
	}
	return nil
}

// Appendable is what the collector and the rules write to: the TSDB, with
// the remote storage counting the samples that come in, which its queues
// use to size their shards, and their highest timestamp.
func (w *Writer) Appendable() storage.Appendable {
	return appendable{storage.NewFanout(w.logger, w.db, w.rs)}
}

// appendable keeps the fanout to its appender: the fanout's queriers would
// also ask the remote storage, which has no read endpoints here.
type appendable struct{ s storage.Storage }

func (a appendable) Appender(ctx context.Context) storage.Appender { return a.s.Appender(ctx) }

// Close flushes what the queues hold, for at most the flush deadline.
func (w *Writer) Close() error { return w.rs.Close() }
