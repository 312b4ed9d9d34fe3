package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/receiver/delivery"
	"github.com/gatewarden/gatewarden/receiver/route"
	"github.com/gatewarden/gatewarden/store"
)

// silencesRefresh is how soon a silence made through another gatewarden
// sharing the store applies here.
const silencesRefresh = 10 * time.Second

// receiverParts are the receiver's stages: ingest → recorder and
// dispatcher → outbox → delivery. They always run; without a receiver
// section ingest answers 404 and the dispatcher has no plan.
type receiverParts struct {
	store        *store.Store
	integrations *receiver.Integrations
	silences     *receiver.Silences
	dispatcher   *receiver.Dispatcher
	delivery     *delivery.Worker
	ingest       *receiver.Ingest
	status       *receiver.Status
	reads        *receiver.AlertsAPI
	// peers: receivers sharing PostgreSQL list each other; nil on SQLite.
	peers *receiver.Peers
	// inbox is where every alert of the process enters the receiver.
	inbox receiver.Inbox
	log   *slog.Logger
}

func newReceiverParts(st *store.Store, rec *receiver.Recorder, peer string, reg prometheus.Registerer, logger *slog.Logger) *receiverParts {
	p := &receiverParts{store: st, integrations: &receiver.Integrations{}, silences: receiver.NewSilences(st, logger.With("component", "silences")),
		log: logger.With("component", "receiver")}
	health := &receiver.ChannelAlerts{Logger: p.log}
	p.delivery = delivery.New(delivery.Options{
		Store: st, Builder: p.integrations, Logger: logger.With("component", "delivery"), Registerer: reg,
		OnFailing: health.Failing, OnRecovered: health.Recovered,
	})
	episodes := receiver.NewEpisodes()
	p.dispatcher = receiver.NewDispatcher(receiver.DispatcherOptions{Ledger: st, Episodes: episodes, Peer: peer,
		Wake: p.delivery.Wake, Logger: p.log, Registerer: reg})
	p.inbox = receiver.Inbox{Episodes: episodes, Recorder: rec, Route: p.dispatcher.Add}
	health.Inbox = p.inbox
	p.ingest = receiver.NewIngest(receiver.IngestOptions{Inbox: p.inbox, Groups: p.dispatcher, Logger: p.log, Registerer: reg})
	p.ingest.Configure(receiver.IngestConfig{})
	p.status = receiver.NewStatus(peer, time.Now())
	if st.Backend() == "postgres" {
		p.peers = receiver.NewPeers(st, peer, time.Now(), time.Now, p.log, reg)
		p.status.ShareWith(p.peers)
	}
	p.reads = receiver.NewAlertsAPI(p.dispatcher, p.silences, p.status)
	if reg != nil {
		reg.MustRegister(outboxCollector{st}, p.silences)
	}
	return p
}

// outboxCollector reports the outbox backlog at scrape time from the store
// (one indexed query), so it counts every receiver sharing the store.
type outboxCollector struct{ st *store.Store }

var (
	ledgerPendingDesc = prometheus.NewDesc("gatewarden_notifications_pending", "State changes of alerts claimed for a channel and waiting for an outcome.", nil, nil)
	outboxPendingDesc = prometheus.NewDesc("gatewarden_outbox_pending", "Notifications in the outbox waiting to be sent.", nil, nil)
	outboxFailedDesc  = prometheus.NewDesc("gatewarden_outbox_failed", "Notifications in the outbox given up on.", nil, nil)
	outboxOldestDesc  = prometheus.NewDesc("gatewarden_outbox_oldest_pending_timestamp_seconds", "When the oldest waiting notification was enqueued; 0 when none waits.", nil, nil)
)

func (outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ledgerPendingDesc
	ch <- outboxPendingDesc
	ch <- outboxFailedDesc
	ch <- outboxOldestDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, _, failed, oldest, err := c.st.OutboxStats(ctx)
	if err != nil {
		return // absent while the store is down; failing the scrape would hide every other metric
	}
	ts := 0.0
	if !oldest.IsZero() {
		ts = float64(oldest.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(outboxFailedDesc, prometheus.GaugeValue, float64(failed))
	ch <- prometheus.MustNewConstMetric(outboxOldestDesc, prometheus.GaugeValue, ts)
	if n, err := c.st.PendingNotifications(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(ledgerPendingDesc, prometheus.GaugeValue, float64(n))
	}
}

// pruneLedger deletes decided claims past store.LedgerRetention, hourly.
func pruneLedger(ctx context.Context, st *store.Store, logger *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n, err := st.PruneLedger(ctx, time.Now().Add(-store.LedgerRetention)); err != nil && ctx.Err() == nil {
			logger.Warn("pruning the notification ledger failed", "err", err)
		} else if n > 0 {
			logger.Debug("pruned the notification ledger", "claims", n)
		}
	}
}

func (p *receiverParts) register(mux *http.ServeMux, guard *access.Guard) {
	p.ingest.Register(mux, guard)
	p.silences.Register(mux, guard)
	p.reads.Register(mux, guard)
}

// apply builds the plan of a (re)loaded receiver section; a failure keeps
// the running one.
func (p *receiverParts) apply(cfg *config.Config) error {
	rc := cfg.Receiver
	if rc == nil {
		p.ingest.Configure(receiver.IngestConfig{})
		p.dispatcher.ApplyPlan(nil)
		return p.status.Configure(nil)
	}
	tree, err := route.New(rc.Route, rc.CooldownOrDefault())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plan, err := receiver.BuildPlan(ctx, rc, receiver.NewTree(tree), p.store, p.integrations, []receiver.Muter{p.silences})
	if err != nil {
		return err
	}
	// Rendered before anything changes, so a failure keeps the running
	// section whole.
	if err := p.status.Configure(rc); err != nil {
		return err
	}
	p.integrations.ExternalURL = rc.ExternalURL
	p.ingest.Configure(receiver.IngestConfigFrom(rc))
	p.silences.Configure(rc.Limits.MaxSilences, int(rc.Limits.MaxSilenceSize))
	p.dispatcher.ApplyPlan(plan)
	return nil
}
