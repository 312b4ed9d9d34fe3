// Package remote takes gatewarden's data beyond its node: remote_write of
// the local TSDB through Prometheus's own storage/remote, which reads the
// TSDB's write-ahead log as Prometheus (and its agent mode) does, and
// /federate as Prometheus serves it.
package remote

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
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
	fanout storage.Storage
	redact *redactor
	// writing says endpoints are configured: without any, appends go to
	// the TSDB alone, with no fanout on the scrape's path.
	writing atomic.Bool
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
	return &Writer{rs: rs, db: db, redact: redact, fanout: storage.NewFanout(slog.New(redact), db, rs)}
}

// ApplyConfig starts, changes or stops queues as the remote_write section
// says; unchanged endpoints keep their queue and position.
func (w *Writer) ApplyConfig(cfg *config.Config) error {
	w.redact.learn(cfg.RemoteWriteConfigs)
	if err := w.rs.ApplyConfig(cfg.Prometheus()); err != nil {
		return err
	}
	w.writing.Store(len(cfg.RemoteWriteConfigs) > 0)
	return nil
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

// Appender is what the collector and the rules write to: the TSDB, with
// the remote storage counting the samples that come in, which its queues
// use to size their shards, and their highest timestamp. Only the appends
// go through the fanout: its queriers would also ask the remote storage,
// which has no read endpoints here.
func (w *Writer) Appender(ctx context.Context) storage.Appender {
	if w.writing.Load() {
		return w.fanout.Appender(ctx)
	}
	return w.db.Appender(ctx)
}

// Close flushes what the queues hold, for at most the flush deadline.
func (w *Writer) Close() error { return w.rs.Close() }
