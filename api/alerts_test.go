package api

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/store"
)

const budgetAlert = `{"type":"budget","severity":"warning","title":"m1 spent 75%","message":"of its monthly budget",
	"related_id":"m1","related_type":"master","related_name":"Master one","metadata":{"step":0.75}}`

func id(v map[string]any) int64 { return int64(v["id"].(float64)) }

func TestAlertLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		created := srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "")
		if created["status"] != "active" || created["related_name"] != "Master one" || created["acked_at"] != nil {
			t.Fatalf("created: %v", created)
		}
		// As ez-api: the same body again is another alert.
		again := srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "")
		if id(again) == id(created) {
			t.Fatalf("second POST updated the first alert: %v", again)
		}
		srv.expect("DELETE", fmt.Sprintf("/admin/alerts/%d", id(again)), "", http.StatusOK, "")
		// With a fingerprint (gatewarden's), a POST creates or updates.
		fp := `{"fingerprint":"fp-1","type":"budget","severity":"info","title":"x"}`
		first := srv.expect("POST", "/admin/alerts", fp, http.StatusCreated, "")
		if update := srv.expect("POST", "/admin/alerts", fp, http.StatusOK, ""); id(update) != id(first) {
			t.Fatalf("a POST with the same fingerprint made a new alert: %v", update)
		}
		srv.expect("DELETE", fmt.Sprintf("/admin/alerts/%d", id(first)), "", http.StatusOK, "")
		other := srv.expect("POST", "/admin/alerts", `{"type":"cpu_anomaly","severity":"critical","title":"i1 hot"}`, http.StatusCreated, "")
		path := fmt.Sprintf("/admin/alerts/%d", id(created))
		// metadata is a string both ways, as ez-api's; an object sent is
		// kept as its text.
		if got := srv.expect("GET", path, "", http.StatusOK, "", readToken); got["title"] != "m1 spent 75%" || got["metadata"] != `{"step":0.75}` {
			t.Fatalf("get: %v", got)
		}
		acked := srv.expect("POST", path+"/ack", `{"acked_by":" alice "}`, http.StatusOK, "")
		if acked["status"] != "acknowledged" || acked["acked_by"] != "alice" || acked["acked_at"] == nil {
			t.Fatalf("ack: %v", acked)
		}
		// Again: a success that changes nothing.
		if again := srv.expect("POST", path+"/ack", `{"acked_by":"bob"}`, http.StatusOK, ""); again["acked_by"] != "alice" {
			t.Fatalf("a second ack changed the first: %v", again)
		}
		if got := srv.expect("POST", path+"/resolve", "", http.StatusOK, ""); got["status"] != "resolved" || got["resolved_at"] == nil {
			t.Fatalf("resolve: %v", got)
		}
		// Back from resolved: gatewarden does not reopen an alert.
		srv.expect("POST", path+"/ack", "", http.StatusConflict, "resolved")
		stats := srv.expect("GET", "/admin/alerts/stats", "", http.StatusOK, "")
		want := map[string]float64{"total": 4, "active": 1, "acknowledged": 0, "resolved": 1, "critical": 1, "warning": 0, "info": 0}
		for k, v := range want {
			if stats[k] != v {
				t.Errorf("stats %s = %v, want %v (%v)", k, stats[k], v, stats)
			}
		}
		if got := srv.expect("DELETE", fmt.Sprintf("/admin/alerts/%d", id(other)), "", http.StatusOK, ""); got["status"] != "dismissed" {
			t.Fatalf("dismiss: %v", got)
		}
		list := srv.expect("GET", "/admin/alerts", "", http.StatusOK, "")
		if list["total"] != 4.0 || list["limit"] != 50.0 || list["offset"] != 0.0 {
			t.Fatalf("the list, dismissed too as in ez-api: %v", list)
		}
		if got := srv.expect("GET", "/admin/alerts?status=dismissed", "", http.StatusOK, ""); got["total"] != 3.0 {
			t.Fatalf("dismissed on request: %v", got)
		}
	})
}

func TestAlertFiltersAndPaging(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		for i := range 250 {
			sev := []string{"critical", "warning", "info"}[i%3]
			srv.expect("POST", "/admin/alerts", fmt.Sprintf(`{"type":"latency","severity":%q,"title":"a%d"}`, sev, i), http.StatusCreated, "")
		}
		page := srv.expect("GET", "/admin/alerts?limit=500&offset=10", "", http.StatusOK, "")
		if page["limit"] != 200.0 || page["total"] != 250.0 || len(page["items"].([]any)) != 200 {
			t.Fatalf("limit is capped at 200: limit %v total %v items %d", page["limit"], page["total"], len(page["items"].([]any)))
		}
		crit := srv.expect("GET", "/admin/alerts?severity=critical&type=latency&status=active&limit=5", "", http.StatusOK, "")
		if crit["total"] != 84.0 || len(crit["items"].([]any)) != 5 {
			t.Fatalf("filtered: %v", crit["total"])
		}
		// A filter that looks like SQL is data: no match, and nothing harmed.
		inj := srv.expect("GET", "/admin/alerts?type="+strings.ReplaceAll("latency' OR '1'='1", " ", "%20"), "", http.StatusOK, "")
		if inj["total"] != 0.0 {
			t.Fatalf("SQL in a filter matched: %v", inj["total"])
		}
		srv.expect("GET", "/admin/alerts?type=x%27%3B%20DROP%20TABLE%20alerts%3B--", "", http.StatusOK, "")
		if got := srv.expect("GET", "/admin/alerts/stats", "", http.StatusOK, ""); got["total"] != 250.0 {
			t.Fatalf("alerts lost: %v", got)
		}
	})
}

func TestAlertBadInput(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		for _, tc := range []struct {
			method, path, body string
			code               int
			want               string
		}{
			{"GET", "/admin/alerts/abc", "", 400, `id "abc" is not a positive integer`},
			{"GET", "/admin/alerts/-1", "", 400, "not a positive integer"},
			{"GET", "/admin/alerts/999", "", 404, "not found"},
			{"POST", "/admin/alerts/999/ack", `{"acked_by":"a"}`, 404, "not found"},
			{"DELETE", "/admin/alerts/999", "", 404, "not found"},
			{"POST", "/admin/alerts", `{"type":`, 400, "invalid JSON body: unexpected EOF"},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"warning","title":"x","colour":"red"}`, 400, `unknown field "colour"`},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"warning","title":"x"} {}`, 400, "data after the object"},
			{"POST", "/admin/alerts", `{"type":"weather","severity":"warning","title":"x"}`, 400, `invalid alert type "weather"`},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"urgent","title":"x"}`, 400, `invalid severity "urgent"`},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info"}`, 400, "title is required"},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info","title":"x","related_id":-1}`, 400, "related_id -1 is not a non-negative whole number"},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info","title":"x","related_id":1.5}`, 400, "related_id 1.5"},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info","title":"x","metadata":[1]}`, 400, "metadata must be a string or an object"},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info","title":"x","expires_at":"soon"}`, 400, "cannot unmarshal string"},
			{"GET", "/admin/alerts?limit=ten", "", 400, `limit "ten"`},
			{"GET", "/admin/alerts?offset=-5", "", 400, `offset "-5"`},
			{"POST", "/admin/alerts", `{"type":"budget","severity":"info","title":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "larger than"},
		} {
			srv.expect(tc.method, tc.path, tc.body, tc.code, tc.want)
		}
	})
}

func TestAuth(t *testing.T) {
	s := storetest.Open(t, store.Options{Path: t.TempDir()})
	srv := newServer(t, s, "")
	srv.expect("GET", "/admin/alerts", "", http.StatusUnauthorized, "bearer token", "")
	srv.expect("GET", "/admin/alerts", "", http.StatusUnauthorized, "bearer token", "admin-token")
	srv.expect("GET", "/admin/alerts", "", http.StatusOK, "", readToken)
	srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusForbidden, "may read", readToken)
	srv.expect("PUT", "/admin/alerts/thresholds", `{"global_qps":1}`, http.StatusForbidden, "may read", readToken)
	srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "", adminToken)
	// Without tokens the API is open, as Alertmanager's is.
	open := newServer(t, s, "{}")
	open.expect("GET", "/admin/alerts", "", http.StatusOK, "", "")
}

// Operators acknowledging and resolving at once: one ack wins (every ack
// answered 200 names its operator), a resolve ends it, and an ack after
// the resolve is refused.
func TestConcurrentAcks(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		path := fmt.Sprintf("/admin/alerts/%d", id(srv.expect("POST", "/admin/alerts", budgetAlert, http.StatusCreated, "")))
		codes := make([]int, 8)
		answers := make([]map[string]any, 8)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				if i%2 == 0 {
					codes[i], answers[i] = srv.do("POST", path+"/ack", fmt.Sprintf(`{"acked_by":"op%d"}`, i))
				} else {
					codes[i], answers[i] = srv.do("POST", path+"/resolve", "")
				}
			})
		}
		wg.Wait()
		final := srv.expect("GET", path, "", http.StatusOK, "")
		if final["status"] != "resolved" {
			t.Fatalf("codes %v, final %v", codes, final)
		}
		for i, c := range codes {
			switch {
			case c == http.StatusConflict && i%2 == 0:
			case c != http.StatusOK:
				t.Fatalf("codes %v", codes)
			case i%2 == 0 && answers[i]["acked_by"] != final["acked_by"]:
				t.Fatalf("two acks won: %v and the final %v", answers[i], final)
			}
		}
	})
}
