package receiver

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/store"
)

// PeerStore is where receivers sharing a database say they are alive.
type PeerStore interface {
	Heartbeat(ctx context.Context, p store.Peer) error
	Peers(ctx context.Context, since time.Time) ([]store.Peer, error)
}

// PeerInterval is how often a receiver says it is alive; a peer silent
// for three of them is no longer listed.
const PeerInterval = 10 * time.Second

// Peers keeps this receiver's heartbeat in the shared store and the list
// of receivers alive, for the cluster status Alertmanager's API reports.
// Receivers do not gossip: they share the ledger, and this list is only
// what an operator (amtool cluster show, Grafana) sees of them.
type Peers struct {
	st    PeerStore
	self  store.Peer
	now   func() time.Time
	log   *slog.Logger
	alive atomic.Pointer[[]store.Peer]

	beats *prometheus.CounterVec
	count prometheus.Gauge
}

// NewPeers tracks the receiver named self, started at started.
func NewPeers(st PeerStore, self string, started time.Time, now func() time.Time, logger *slog.Logger, reg prometheus.Registerer) *Peers {
	p := &Peers{st: st, self: store.Peer{Name: self, StartedAt: started}, now: now, log: logger,
		beats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_receiver_peer_heartbeats_total",
			Help: "Heartbeats this receiver wrote to the shared store, by result.",
		}, []string{"result"}),
		count: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_peers",
			Help: "Receivers sharing the store seen alive in the last three heartbeat intervals, this one included.",
		}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.beats.WithLabelValues("success")
	p.beats.WithLabelValues("failure")
	if reg != nil {
		reg.MustRegister(p.beats, p.count)
	}
	return p
}

// Run beats every PeerInterval until ctx ends.
func (p *Peers) Run(ctx context.Context) error {
	t := time.NewTicker(PeerInterval)
	defer t.Stop()
	for {
		p.Beat(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Beat writes one heartbeat and rereads who is alive. A failure keeps the
// last list: the store being away says nothing about the peers.
func (p *Peers) Beat(ctx context.Context) {
	now := p.now()
	self := p.self
	self.SeenAt = now
	err := p.st.Heartbeat(ctx, self)
	var alive []store.Peer
	if err == nil {
		alive, err = p.st.Peers(ctx, now.Add(-3*PeerInterval))
	}
	if err != nil {
		p.beats.WithLabelValues("failure").Inc()
		p.log.Warn("receiver heartbeat failed", "err", err)
		return
	}
	p.beats.WithLabelValues("success").Inc()
	p.alive.Store(&alive)
	p.count.Set(float64(len(alive)))
}

// Alive is the receivers seen alive at the last heartbeat, by name; nil
// before the first.
func (p *Peers) Alive() []store.Peer {
	if a := p.alive.Load(); a != nil {
		return *a
	}
	return nil
}
