package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/store"
)

// ezField is one field of a response type of seed 001 (ez-api's
// alert_handler.go): its JSON name, the JSON type its Go type encodes to,
// and whether its tag has omitempty.
type ezField struct {
	name, kind string // kind: string, integer, array
	omitempty  bool
}

// ezViews are seed 001's response types, copied from its Go declarations:
// AlertView, ListAlertsResponse, AlertStats, AlertThresholdView, and the
// gin.H answers of DismissAlert and of every error.
var ezViews = map[string][]ezField{
	"AlertView": {
		{"id", "integer", false}, {"type", "string", false}, {"severity", "string", false},
		{"status", "string", false}, {"title", "string", false}, {"message", "string", false},
		{"related_id", "integer", true}, {"related_type", "string", true}, {"related_name", "string", true},
		{"metadata", "string", true}, {"acked_at", "integer", true}, {"acked_by", "string", true},
		{"resolved_at", "integer", true}, {"expires_at", "integer", true},
		{"created_at", "integer", false}, {"updated_at", "integer", false},
	},
	"ListAlertsResponse": {{"total", "integer", false}, {"limit", "integer", false}, {"offset", "integer", false}, {"items", "array", false}},
	"AlertStats": {
		{"total", "integer", false}, {"active", "integer", false}, {"acknowledged", "integer", false},
		{"resolved", "integer", false}, {"critical", "integer", false}, {"warning", "integer", false}, {"info", "integer", false},
	},
	"AlertThresholdView": {
		{"global_qps", "integer", false}, {"master_rpm", "integer", false}, {"master_rpd", "integer", false},
		{"master_tpm", "integer", false}, {"master_tpd", "integer", false}, {"min_rpm_requests_1m", "integer", false},
		{"min_tpm_tokens_1m", "integer", false}, {"updated_at", "integer", false},
	},
	"dismissed": {{"status", "string", false}},
	"error":     {{"error", "string", false}},
}

// ezExtras are gatewarden's additions, allowed beside a view's fields.
var ezExtras = map[string][]string{"AlertView": {"fingerprint", "related_ref", "labels"}}

// checkView holds an answer to a view: every field of the view with its
// JSON type, present unless omitempty, and omitted rather than empty when
// omitempty; nothing else but gatewarden's additions. Field order follows
// the view, as encoding/json writes a struct.
func checkView(t *testing.T, what, view string, raw []byte) map[string]any {
	t.Helper()
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		t.Fatalf("%s: not a JSON object: %v: %s", what, err, raw)
	}
	fields := ezViews[view]
	var order []string
	for _, f := range fields {
		v, ok := obj[f.name]
		switch {
		case !ok && !f.omitempty:
			t.Errorf("%s: %s.%s missing: %s", what, view, f.name, raw)
		case ok && f.omitempty && isZero(v):
			t.Errorf("%s: %s.%s is %v where ez-api omits it: %s", what, view, f.name, v, raw)
		case ok && !hasKind(v, f.kind):
			t.Errorf("%s: %s.%s = %v (%T), want a JSON %s: %s", what, view, f.name, v, v, f.kind, raw)
		}
		if ok {
			order = append(order, f.name)
		}
	}
	for k := range obj {
		if !slices.ContainsFunc(fields, func(f ezField) bool { return f.name == k }) && !slices.Contains(ezExtras[view], k) {
			t.Errorf("%s: %s has a field ez-api does not: %q", what, view, k)
		}
	}
	if got := keysInOrder(raw, order); !slices.Equal(got, order) {
		t.Errorf("%s: %s fields in the order %v, ez-api writes %v", what, view, got, order)
	}
	return obj
}

func hasKind(v any, kind string) bool {
	switch kind {
	case "string":
		_, ok := v.(string)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := n.Int64()
	return err == nil && !strings.ContainsAny(n.String(), ".eE")
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case json.Number:
		f, _ := x.Float64()
		return f == 0
	}
	return v == nil
}

// keysInOrder returns the names in order as they appear in raw's top
// level, of those named.
func keysInOrder(raw []byte, names []string) []string {
	pos := map[string]int{}
	for _, n := range names {
		pos[n] = bytes.Index(raw, []byte(`"`+n+`":`))
	}
	out := slices.Clone(names)
	slices.SortFunc(out, func(a, b string) int { return pos[a] - pos[b] })
	return out
}

// TestEzAPIContract plays an ez-api console's calls, every endpoint of
// seed 001 with its request types as ez-api declares them, and holds
// every answer to the seed's status codes and response types.
func TestEzAPIContract(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		srv := newServer(t, s, "")
		call := func(method, path, body string, code int, view string) map[string]any {
			t.Helper()
			got, raw := srv.raw(method, path, body)
			if got != code {
				t.Fatalf("%s %s: %d %s, want %d", method, path, got, raw, code)
			}
			return checkView(t, method+" "+path, view, raw)
		}
		// CreateAlertRequest: related_id a uint, metadata a string,
		// expires_at unix seconds; title, message, related_type and
		// related_name trimmed.
		created := call("POST", "/admin/alerts", `{"type":"quota_exceeded","severity":"critical","title":"  Key 7 over quota  ",
			"message":" 1,204 of 1,000 requests ","related_id":7,"related_type":" key ","related_name":" prod-key ",
			"metadata":"{\"value\":1204,\"threshold\":1000}","expires_at":4102444800}`, http.StatusCreated, "AlertView")
		want := map[string]any{"type": "quota_exceeded", "severity": "critical", "status": "active", "title": "Key 7 over quota",
			"message": "1,204 of 1,000 requests", "related_id": json.Number("7"), "related_type": "key", "related_name": "prod-key",
			"metadata": `{"value":1204,"threshold":1000}`, "expires_at": json.Number("4102444800")}
		for k, v := range want {
			if created[k] != v {
				t.Errorf("created %s = %v, want %v", k, created[k], v)
			}
		}
		id := created["id"].(json.Number).String()
		plain := call("POST", "/admin/alerts", `{"type":"provider_down","severity":"warning","title":"openai down"}`, http.StatusCreated, "AlertView")
		if _, ok := plain["message"]; !ok {
			t.Error("an empty message is written, not omitted, as ez-api's")
		}
		call("POST", "/admin/alerts", `{"type":"rate_limit","severity":"info","title":"m1 limited","related_id":0}`, http.StatusCreated, "AlertView")

		// ListAlertsResponse with ez-api's filters; limit 50 by default,
		// capped at 200.
		list := call("GET", "/admin/alerts", "", http.StatusOK, "ListAlertsResponse")
		if list["total"] != json.Number("3") || list["limit"] != json.Number("50") || list["offset"] != json.Number("0") {
			t.Errorf("list: %v", list)
		}
		_, raw := srv.raw("GET", "/admin/alerts", "")
		var items struct{ Items []json.RawMessage }
		if err := json.Unmarshal(raw, &items); err != nil || len(items.Items) != 3 {
			t.Fatalf("list items: %v %s", err, raw)
		}
		for _, item := range items.Items {
			checkView(t, "list item", "AlertView", item)
		}
		for query, n := range map[string]string{"?status=active": "3", "?severity=critical": "1", "?type=provider_down": "1",
			"?status=bogus": "0", "?type=%20rate_limit%20": "1", "?limit=500": "3", "?limit=1&offset=1": "3"} {
			if got := call("GET", "/admin/alerts"+query, "", http.StatusOK, "ListAlertsResponse"); got["total"] != json.Number(n) {
				t.Errorf("list%s: total %v, want %s", query, got["total"], n)
			}
		}
		if got := call("GET", "/admin/alerts?limit=500", "", http.StatusOK, "ListAlertsResponse"); got["limit"] != json.Number("200") {
			t.Errorf("limit 500 answered limit %v, want the cap 200", got["limit"])
		}

		call("GET", "/admin/alerts/"+id, "", http.StatusOK, "AlertView")
		call("GET", "/admin/alerts/999999", "", http.StatusNotFound, "error")
		call("GET", "/admin/alerts/abc", "", http.StatusBadRequest, "error")

		// AckAlertRequest is optional and acked_by trimmed.
		acked := call("POST", "/admin/alerts/"+id+"/ack", `{"acked_by":" alice "}`, http.StatusOK, "AlertView")
		if acked["status"] != "acknowledged" || acked["acked_by"] != "alice" || acked["acked_at"] == nil {
			t.Errorf("ack: %v", acked)
		}
		call("POST", "/admin/alerts/"+plain["id"].(json.Number).String()+"/ack", "", http.StatusOK, "AlertView")
		resolved := call("POST", "/admin/alerts/"+id+"/resolve", "", http.StatusOK, "AlertView")
		if resolved["status"] != "resolved" || resolved["resolved_at"] == nil {
			t.Errorf("resolve: %v", resolved)
		}
		if got := call("DELETE", "/admin/alerts/"+id, "", http.StatusOK, "dismissed"); got["status"] != "dismissed" {
			t.Errorf("dismiss: %v", got)
		}
		call("POST", "/admin/alerts/999999/resolve", "", http.StatusNotFound, "error")
		call("DELETE", "/admin/alerts/999999", "", http.StatusNotFound, "error")

		stats := call("GET", "/admin/alerts/stats", "", http.StatusOK, "AlertStats")
		for k, v := range map[string]string{"total": "3", "active": "1", "acknowledged": "1", "resolved": "0", "critical": "0", "warning": "0", "info": "1"} {
			if stats[k] != json.Number(v) {
				t.Errorf("stats %s = %v, want %s", k, stats[k], v)
			}
		}

		// Invalid input: ez-api's status codes.
		for _, body := range []string{`{"severity":"info","title":"x"}`, `{"type":"rate_limit","severity":"info"}`,
			`{"type":"weather","severity":"info","title":"x"}`, `{"type":"rate_limit","severity":"loud","title":"x"}`,
			`{"type":"rate_limit","severity":"info","title":"x","related_id":-7}`, `not json`} {
			call("POST", "/admin/alerts", body, http.StatusBadRequest, "error")
		}

		// Thresholds: AlertThresholdView, partial updates of whole numbers.
		th := call("GET", "/admin/alerts/thresholds", "", http.StatusOK, "AlertThresholdView")
		updated := call("PUT", "/admin/alerts/thresholds", `{"master_rpm":120,"min_rpm_requests_1m":0}`, http.StatusOK, "AlertThresholdView")
		if updated["master_rpm"] != json.Number("120") || updated["min_rpm_requests_1m"] != json.Number("0") || updated["global_qps"] != th["global_qps"] {
			t.Errorf("thresholds after PUT: %v", updated)
		}
		for _, body := range []string{`{"global_qps":0}`, `{"master_tpd":-1}`, `{"min_tpm_tokens_1m":-1}`, `{"master_rpm":2.5}`} {
			call("PUT", "/admin/alerts/thresholds", body, http.StatusBadRequest, "error")
		}
	})
}

// TestEzAPIRelatedID: ez-api's related_id is a uint; gatewarden keeps what
// its rules relate an alert to (a master's name) in related_ref, and
// related_id only where that is a number.
func TestEzAPIRelatedID(t *testing.T) {
	for _, tc := range []struct {
		stored string
		id     uint64
	}{{"7", 7}, {"m1", 0}, {"", 0}, {"18446744073709551615", math.MaxUint64}} {
		got := toAlertJSON(store.Alert{RelatedID: tc.stored})
		b, _ := json.Marshal(got)
		if got.RelatedID != tc.id || got.RelatedRef != tc.stored {
			t.Errorf("stored %q: %s", tc.stored, b)
		}
	}
}
