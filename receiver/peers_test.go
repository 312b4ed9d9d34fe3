package receiver_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver"
	"github.com/gatewarden/gatewarden/store"
)

// TestClusterStatusListsLivePeers: two receivers sharing PostgreSQL list
// each other in /api/v2/status as Alertmanager lists its cluster, and one
// that stops saying it is alive leaves the list after three heartbeats.
func TestClusterStatusListsLivePeers(t *testing.T) {
	pg.Require(t)
	url := pg.NewDB(t)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	started := now()
	a := receiver.NewPeers(storetest.Open(t, store.Options{DatabaseURL: url}), "a:9095", started, now, nil, nil)
	b := receiver.NewPeers(storetest.Open(t, store.Options{DatabaseURL: url}), "b:9095", started, now, nil, nil)

	status := receiver.NewStatus("a:9095", started)
	cfg, err := config.Load([]byte("receiver:\n  route: {receiver: r}\n  receivers: [{name: r}]\n"), "gatewarden.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Configure(cfg.Receiver); err != nil {
		t.Fatal(err)
	}
	status.ShareWith(a)
	mux := http.NewServeMux()
	receiver.NewAlertsAPI(nil, nil, status).Register(mux, access.New())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cluster := func() (string, []string) {
		var st models.AlertmanagerStatus
		getModel(t, srv.URL+"/api/v2/status", &st)
		var names []string
		for _, p := range st.Cluster.Peers {
			names = append(names, *p.Name)
		}
		return *st.Cluster.Status, names
	}

	if s, peers := cluster(); s != models.ClusterStatusStatusSettling || len(peers) != 0 {
		t.Fatalf("before a heartbeat: %s %v, want settling without peers", s, peers)
	}
	b.Beat(t.Context())
	a.Beat(t.Context())
	if s, peers := cluster(); s != models.ClusterStatusStatusReady || len(peers) != 2 || peers[0] != "a:9095" || peers[1] != "b:9095" {
		t.Fatalf("both alive: %s %v", s, peers)
	}
	// b falls silent; a keeps beating.
	for range 3 {
		clock.Add(int64(receiver.PeerInterval))
		a.Beat(t.Context())
	}
	if s, peers := cluster(); s != models.ClusterStatusStatusReady || len(peers) != 2 {
		t.Fatalf("b silent for exactly three intervals: %s %v, still listed", s, peers)
	}
	clock.Add(int64(time.Second))
	a.Beat(t.Context())
	if s, peers := cluster(); s != models.ClusterStatusStatusReady || len(peers) != 1 || peers[0] != "a:9095" {
		t.Fatalf("b silent past three intervals: %s %v, want only a", s, peers)
	}
}
