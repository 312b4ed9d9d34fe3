package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/store"
)

// limitsRig is ingest in front of a running recorder and dispatcher (one
// group per alertname), with limits.
type limitsRig struct {
	*ingestRig
	in *Ingest
	d  *Dispatcher
}

func newLimitsRig(t *testing.T, lim Limits) *limitsRig {
	t.Helper()
	st := openStore(t)
	rec := NewRecorder(st, 100_000, nil, nil)
	episodes := NewEpisodes()
	d := NewDispatcher(DispatcherOptions{Ledger: st, Episodes: episodes})
	d.ApplyPlan(&Plan{Router: oneRoute{Timing{GroupWait: time.Hour, GroupInterval: time.Hour, RepeatInterval: time.Hour}},
		Targets: func(string) []Target { return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = rec.Run(ctx) })
	wg.Go(func() { _ = d.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	// The dispatcher's first pass over the store runs at its start: one
	// that read an alert as open before the test resolved it would take
	// the resolved episode back, and the counts the limits see with it.
	waitFor(t, "the dispatcher's first resync", func() bool {
		var m dto.Metric
		_ = d.m.resyncDuration.Write(&m)
		return m.GetHistogram().GetSampleCount() > 0
	})
	in := NewIngest(IngestOptions{Inbox: Inbox{Episodes: episodes, Recorder: rec, Route: d.Add}, Groups: d, Registerer: prometheus.NewRegistry()})
	in.Configure(IngestConfig{Enabled: true, Limits: lim})
	mux := http.NewServeMux()
	in.Register(mux, access.New())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &limitsRig{ingestRig: &ingestRig{srv: srv, store: st, rec: rec}, in: in, d: d}
}

func alertsJSON(names ...string) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, `{"labels":{"alertname":"`+n+`"}}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// An issue 16 finding: 300,000 distinct alerts took the daemon to 1.17 GB
// with nothing to stop them. Past max_alerts (or max_alerts_size), new
// alerts get 429 naming the limit, while the ones held are still taken
// (re-posts keep them), and a resolution makes room.
func TestLimitMaxAlerts(t *testing.T) {
	for _, tc := range []struct {
		lim     Limits
		key     string
		refused int
	}{
		{Limits{MaxAlerts: 3}, limitAlerts, 2},
		{Limits{MaxAlertsSize: 3 * int64(len("alertname")+1)}, limitBytes, 2},
	} {
		t.Run(tc.key, func(t *testing.T) {
			rig := newLimitsRig(t, tc.lim)
			code, msg := rig.post(t, "/api/v2/alerts", alertsJSON("A", "B", "C", "D", "E"))
			if code != http.StatusTooManyRequests || !strings.Contains(msg, "2 alerts refused") || !strings.Contains(msg, "receiver.limits."+tc.key) {
				t.Fatalf("past the limit: %d %s", code, msg)
			}
			if code, msg := rig.post(t, "/api/v2/alerts", alertsJSON("A", "B", "C")); code != http.StatusOK {
				t.Fatalf("re-posts of the held alerts: %d %s", code, msg)
			}
			if code, _ := rig.post(t, "/api/v2/alerts", `[{"labels":{"alertname":"A"},"endsAt":"2020-01-01T00:00:00Z"}]`); code != http.StatusOK {
				t.Fatalf("a resolution: %d", code)
			}
			if code, msg := rig.post(t, "/api/v2/alerts", alertsJSON("D")); code != http.StatusOK {
				t.Fatalf("after a resolution made room: %d %s", code, msg)
			}
			if n := testutil.ToFloat64(rig.in.rejected.WithLabelValues(tc.key)); int(n) != tc.refused {
				t.Errorf("%v refusals counted, want %d", n, tc.refused)
			}
		})
	}
}

func TestLimitMaxAggregationGroups(t *testing.T) {
	rig := newLimitsRig(t, Limits{MaxGroups: 2})
	if code, msg := rig.post(t, "/api/v2/alerts", alertsJSON("A", "B")); code != http.StatusOK {
		t.Fatalf("two groups: %d %s", code, msg)
	}
	waitFor(t, "the dispatcher to hold two groups", func() bool { return rig.d.Groups() == 2 })
	code, msg := rig.post(t, "/api/v2/alerts", `[{"labels":{"alertname":"C"}},{"labels":{"alertname":"A","id":"2"}}]`)
	if code != http.StatusTooManyRequests || !strings.Contains(msg, "1 alerts refused") || !strings.Contains(msg, "receiver.limits.max_aggregation_groups") {
		t.Fatalf("a third group: %d %s", code, msg)
	}
}

// Concurrent requests cannot pass a limit together: each admits against
// what the others admitted and the dispatcher has not routed yet.
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lim   Limits
		alert func(client, i int) string
		want  func(r *limitsRig) int
	}{
		{"max_alerts", Limits{MaxAlerts: 100}, func(c, i int) string {
			return fmt.Sprintf(`{"labels":{"alertname":"A","id":"%d-%d"}}`, c, i)
		}, func(r *limitsRig) int { return r.in.inbox.Episodes.Len() }},
		{"max_aggregation_groups", Limits{MaxGroups: 60}, func(c, i int) string {
			return fmt.Sprintf(`{"labels":{"alertname":"A%d-%d"}}`, c, i)
		}, func(r *limitsRig) int { return int(r.d.keys.n.Load()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newLimitsRig(t, tc.lim)
			var wg sync.WaitGroup
			for c := range 8 {
				wg.Go(func() {
					for req := range 10 {
						parts := make([]string, 10)
						for i := range parts {
							parts[i] = tc.alert(c, req*10+i)
						}
						rig.post(t, "/api/v2/alerts", "["+strings.Join(parts, ",")+"]")
					}
				})
			}
			wg.Wait()
			limit := max(tc.lim.MaxAlerts, tc.lim.MaxGroups)
			if got := tc.want(rig); got != limit {
				t.Fatalf("%d admitted, want exactly the limit %d", got, limit)
			}
			if n := testutil.ToFloat64(rig.in.rejected.WithLabelValues(tc.name)); int(n) != 800-limit {
				t.Errorf("%v refusals counted, want %d", n, 800-limit)
			}
		})
	}
}

// An issue 16 finding: a 10 MB annotation was accepted, stored and served.
func TestLimitAlertSizeAndLabels(t *testing.T) {
	rig := newLimitsRig(t, Limits{MaxAlertSize: 1 << 10, MaxLabels: 4})
	big := `[{"labels":{"alertname":"Big"},"annotations":{"description":"` + strings.Repeat("x", 10<<10) + `"}}]`
	if code, msg := rig.post(t, "/api/v2/alerts", big); code != http.StatusTooManyRequests || !strings.Contains(msg, "receiver.limits.max_alert_size") {
		t.Fatalf("a 10 KiB annotation: %d %.200s", code, msg)
	}
	many := `[{"labels":{"alertname":"Many","a":"1","b":"2","c":"3","d":"4"}}]`
	if code, msg := rig.post(t, "/api/v2/alerts", many); code != http.StatusTooManyRequests || !strings.Contains(msg, "receiver.limits.max_labels_per_alert") {
		t.Fatalf("5 labels: %d %s", code, msg)
	}
	if _, n, _ := rig.store.ListAlerts(context.Background(), store.AlertFilter{IncludeDismissed: true}); n != 0 {
		t.Fatalf("%d refused alerts stored", n)
	}
}

// Issue 16's lenient ingest findings: each answered 200 on the commit
// before this test.
func TestIngestIsAsStrictAsAlertmanager(t *testing.T) {
	rig := newIngestRig(t, nil)
	for _, c := range []struct {
		what, contentType, body string
		code                    int
		reason                  string
	}{
		{"trailing garbage", "application/json", alertsJSON("A") + `garbage`, 400, "trailing data after the value"},
		{"a null body", "application/json", `null`, 400, "want an array of alerts, got null"},
		{"an invalid label name", "application/json", `[{"labels":{"alertname":"A","bad-name!":"x"}}]`, 400, `invalid label name "bad-name!"`},
		{"an empty alertname", "application/json", `[{"labels":{"alertname":""}}]`, 400, "no alertname"},
		{"no alertname", "application/json", `[{"labels":{"job":"x"}}]`, 400, "no alertname"},
		{"an invalid annotation name", "application/json", `[{"labels":{"alertname":"A"},"annotations":{"a b":"x"}}]`, 400, `invalid annotation "a b"`},
		{"an end before the start", "application/json", `[{"labels":{"alertname":"A"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]`, 400, "endsAt 2026-01-01T00:00:00Z is before startsAt"},
		{"a text body", "text/plain", alertsJSON("A"), 415, `Content-Type "text/plain"`},
		{"a form", "application/x-www-form-urlencoded", alertsJSON("A"), 415, "send application/json"},
		{"10 KB of x", "application/json", strings.Repeat("x", 10<<10), 400, "invalid character 'x'"},
	} {
		req, _ := http.NewRequest("POST", rig.srv.URL+"/api/v2/alerts", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if msg := errorText(b); resp.StatusCode != c.code || !strings.Contains(msg, c.reason) {
			t.Errorf("%s: %d %s, want %d naming %q", c.what, resp.StatusCode, msg, c.code, c.reason)
		}
	}
	if code, msg := rig.post(t, "/api/v1/webhook/alertmanager", `{"version":"4","alerts":[]} {}`); code != 400 || !strings.Contains(msg, "trailing data") {
		t.Errorf("webhook with trailing data: %d %s", code, msg)
	}
	// Alertmanager's default (UTF-8 names) when configured so.
	rig.in.Configure(IngestConfig{Enabled: true, UTF8Names: true})
	if code, msg := rig.post(t, "/api/v2/alerts", `[{"labels":{"alertname":"A","bad-name!":"x"}}]`); code != http.StatusOK {
		t.Errorf("a UTF-8 label name with label_name_validation: utf8: %d %s", code, msg)
	}
}

// errorText is an error answer's message: a JSON string, as
// Alertmanager answers.
func errorText(b []byte) string {
	var str string
	if json.Unmarshal(b, &str) == nil {
		return str
	}
	return string(b)
}
