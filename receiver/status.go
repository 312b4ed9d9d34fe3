package receiver

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/version"

	"github.com/gatewarden/gatewarden/config"
)

// AlertmanagerVersion is the Alertmanager whose API v2 gatewarden speaks,
// the version of the pinned module (a test keeps them in step). The status
// reports it as versionInfo.version: amtool warns when the server's
// major.minor differs from its own, and clients pick features by it.
const AlertmanagerVersion = "0.34.2"

// Status is what GET /api/v2/status and /api/v2/receivers say of the
// receiver: its config in Alertmanager's shape, when it started, which
// build answers, and its cluster.
type Status struct {
	started time.Time
	peer    string
	cur     atomic.Pointer[statusConfig]
	// peers lists the receivers sharing the store; nil when none can
	// (SQLite), and the cluster is "disabled".
	peers *Peers
}

// statusConfig is one loaded receiver section, rendered once per load.
type statusConfig struct {
	original  string
	receivers []string
}

// NewStatus returns the status of a receiver named peer started at
// started; Configure gives it its config.
func NewStatus(peer string, started time.Time) *Status {
	return &Status{started: started.UTC(), peer: peer}
}

// ShareWith makes the status list the receivers p sees alive as the
// cluster's peers.
func (s *Status) ShareWith(p *Peers) { s.peers = p }

// Configure renders a (re)loaded receiver section; nil is none.
func (s *Status) Configure(rc *config.ReceiverConfig) error {
	if rc == nil {
		s.cur.Store(nil)
		return nil
	}
	original, err := AlertmanagerYAML(rc)
	if err != nil {
		return err
	}
	sc := &statusConfig{original: original}
	for _, r := range rc.Receivers {
		sc.receivers = append(sc.receivers, r.Name)
	}
	s.cur.Store(sc)
	return nil
}

func (s *Status) current() *statusConfig { return s.cur.Load() }

// serve answers Alertmanager's alertmanagerStatus.
func (s *Status) serve(w http.ResponseWriter, _ *http.Request) {
	sc := s.current()
	uptime := strfmt.DateTime(s.started)
	v := AlertmanagerVersion
	goVersion := runtime.Version()
	writeJSONBody(w, http.StatusOK, &models.AlertmanagerStatus{
		Cluster: s.cluster(),
		Config:  &models.AlertmanagerConfig{Original: &sc.original},
		Uptime:  &uptime,
		// The build fields are gatewarden's own.
		VersionInfo: &models.VersionInfo{Version: &v, Revision: &version.Revision, Branch: &version.Branch,
			BuildUser: &version.BuildUser, BuildDate: &version.BuildDate, GoVersion: &goVersion},
	})
}

// cluster is the receivers sharing the store, as Alertmanager's cluster
// status: receivers do not gossip (each claims its work in the shared
// ledger), but each says it is alive there, and the peers are those heard
// from within three heartbeats — "ready" once this one is among them,
// "settling" before. Without a shared store (SQLite) the cluster is
// "disabled" with no peers, as an Alertmanager without
// --cluster.listen-address says; its name is this receiver's peer name,
// which the ledger's claims carry.
func (s *Status) cluster() *models.ClusterStatus {
	out := &models.ClusterStatus{Name: s.peer, Peers: []*models.PeerStatus{}}
	status := models.ClusterStatusStatusDisabled
	if s.peers != nil {
		status = models.ClusterStatusStatusSettling
		for _, p := range s.peers.Alive() {
			name, addr := p.Name, p.Name
			out.Peers = append(out.Peers, &models.PeerStatus{Name: &name, Address: &addr})
			if p.Name == s.peer {
				status = models.ClusterStatusStatusReady
			}
		}
	}
	out.Status = &status
	return out
}

// receivers answers Alertmanager's receiver list: the section's names.
func (s *Status) receivers(w http.ResponseWriter, _ *http.Request) {
	sc := s.current()
	out := make([]*models.Receiver, len(sc.receivers))
	for i := range sc.receivers {
		out[i] = &models.Receiver{Name: &sc.receivers[i]}
	}
	writeJSONBody(w, http.StatusOK, out)
}
