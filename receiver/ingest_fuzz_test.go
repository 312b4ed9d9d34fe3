package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	amtemplate "github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/internal/storetest"
)

// ingestPaths are the two ingest APIs; an input's first byte picks one.
var ingestPaths = []string{"/api/v2/alerts", "/api/v1/webhook/alertmanager"}

// FuzzIngest posts two bodies, as one sender posting twice, to the
// ingest handlers, which write through a real recorder to SQLite. The
// decoder itself is held to encoding/json by FuzzAlertDecoder; this target
// holds what ingest then hands on: valid labels, sane times (after the
// second post has continued or closed the first one's episodes), one
// alert per fingerprint, and nothing from a body Alertmanager could not
// have read.
func FuzzIngest(f *testing.F) {
	// decode_test.go's decoder seeds, and ingest_test.go's bodies.
	for _, s := range append(slices.Clone(decoderSeeds),
		`[{"labels":{"alertname":"A","master":"m1"},"annotations":{"summary":"s"}},{"labels":{"alertname":"A","master":"m1"}},{"labels":{"alertname":"B"},"startsAt":"2026-12-01T10:00:00Z","endsAt":"2026-12-01T09:00:00Z"},{"labels":{}},{"labels":{"alertname":"C"},"endsAt":"2020-01-01T00:00:00Z"}]`,
		`[{"labels":{"alertname":1}}]`, `[{"labels":{"a":"b"},"startsAt":"yesterday"}]`, `[{"labels":`,
	) {
		f.Add(uint8(0), []byte(s), []byte(`[{"labels":{"alertname":"A","master":"m1"}}]`))
	}
	for _, s := range []string{
		`{"receiver":"r","status":"firing","version":"4","groupKey":"{}:{}","truncatedAlerts":0,"alerts":[{"status":"resolved","labels":{"alertname":"A"},"fingerprint":"f"}],"groupLabels":{"alertname":"A"},"externalURL":"http://am"}`,
		`{"alerts":{}}`, `{"version":"3","alerts":[]}`,
	} {
		f.Add(uint8(1), []byte(s), []byte(nil))
	}
	wh := alertmanagerWebhookBody(f)
	f.Add(uint8(1), wh, wh)

	rig := newIngestFuzzRig(f)
	f.Fuzz(func(t *testing.T, api uint8, first, second []byte) {
		path := ingestPaths[int(api)%len(ingestPaths)]
		// Episodes are per input, so that a failing input fails alone.
		mux := rig.ingest()
		for _, body := range [][]byte{first, second} {
			code, resp, taken := rig.post(mux, path, body)
			switch code {
			case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			default:
				// The store is local and healthy: a 503 means it refused
				// what ingest accepted.
				t.Fatalf("%s: status %d: %s", path, code, resp)
			}
			if code != http.StatusOK {
				var e string // Alertmanager's form: the reason as a JSON string
				if err := json.Unmarshal(resp, &e); err != nil || e == "" {
					t.Fatalf("%s: %d answer is not a JSON error: %q (%v)", path, code, resp, err)
				}
			}
			if len(taken) > 0 && !amCouldRead(path, body) {
				t.Fatalf("%s: took %d alerts from a body encoding/json refuses", path, len(taken))
			}
			seen := map[string]bool{}
			for _, a := range taken {
				checkTaken(t, a)
				fp := model.Fingerprint(model.LabelsToSignature(a.Labels)).String()
				if a.Fingerprint() != fp {
					t.Fatalf("alert %v: fingerprint %s, Alertmanager's %s", a.Labels, a.Fingerprint(), fp)
				}
				if seen[fp] {
					t.Fatalf("alert %v taken twice in one batch", a.Labels)
				}
				seen[fp] = true
			}
		}
	})
}

func checkTaken(t *testing.T, a Alert) {
	t.Helper()
	if len(a.Labels) == 0 {
		t.Fatalf("took an alert without labels: %+v", a)
	}
	for k, v := range a.Labels {
		if !model.LabelName(k).IsValid() || !model.LabelValue(v).IsValid() {
			t.Fatalf("took an alert with an invalid label %q=%q", k, v)
		}
	}
	if a.StartsAt.IsZero() || a.EndsAt.Before(a.StartsAt) {
		t.Fatalf("took an alert %v running from %s to %s", a.Labels, a.StartsAt, a.EndsAt)
	}
}

// amCouldRead reports whether encoding/json, as Alertmanager reads a
// request, decodes the body's first value into the API's shape.
func amCouldRead(path string, body []byte) bool {
	var v any = &[]v1Alert{}
	if path != ingestPaths[0] {
		v = &struct {
			Version string    `json:"version"`
			Alerts  []v1Alert `json:"alerts"`
		}{}
	}
	return json.NewDecoder(bytes.NewReader(body)).Decode(v) == nil
}

// ingestFuzzRig is newIngestRig without a listener: inputs go straight to
// a mux, and the recorder and its store last the whole run.
type ingestFuzzRig struct {
	rec   *Recorder
	mu    sync.Mutex
	taken []Alert
}

func newIngestFuzzRig(f *testing.F) *ingestFuzzRig {
	rig := &ingestFuzzRig{rec: NewRecorder(storetest.SQLite(f), 1000, nil, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rig.rec.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	return rig
}

// ingest returns the ingest endpoints with episodes of their own.
func (rig *ingestFuzzRig) ingest() *http.ServeMux {
	route := func(as []Alert) { rig.mu.Lock(); rig.taken = append(rig.taken, as...); rig.mu.Unlock() }
	in := NewIngest(IngestOptions{MaxBodySize: 64 << 10, Inbox: Inbox{Episodes: NewEpisodes(), Recorder: rig.rec, Route: route}})
	mux := http.NewServeMux()
	in.Register(mux, access.New()) // open: authorization is not what is fuzzed
	return mux
}

// post returns the answer and the alerts the request handed on.
func (rig *ingestFuzzRig) post(mux *http.ServeMux, path string, body []byte) (int, []byte, []Alert) {
	rig.mu.Lock()
	rig.taken = nil
	rig.mu.Unlock()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return w.Code, bytes.TrimSpace(w.Body.Bytes()), rig.taken
}

// alertmanagerWebhookBody is the payload Alertmanager's webhook
// integration sends, built from its own types.
func alertmanagerWebhookBody(f *testing.F) []byte {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ls := amtemplate.KV{"alertname": "GatewayErrorRate", "master": "m1", "severity": "critical"}
	msg := amwebhook.Message{Version: "4", GroupKey: `{}:{alertname="GatewayErrorRate"}`, Data: &amtemplate.Data{
		Receiver: "gatewarden", Status: "firing", ExternalURL: "http://alertmanager:9093",
		GroupLabels: amtemplate.KV{"alertname": "GatewayErrorRate"}, CommonLabels: amtemplate.KV{"alertname": "GatewayErrorRate"},
		Alerts: amtemplate.Alerts{
			{Status: "firing", Labels: ls, Annotations: amtemplate.KV{"summary": "5xx at 30%"}, StartsAt: start, EndsAt: start.Add(5 * time.Minute), GeneratorURL: "http://prom/graph", Fingerprint: "c4f3"},
			{Status: "resolved", Labels: amtemplate.KV{"alertname": "GatewayErrorRate", "master": "m2"}, StartsAt: start, EndsAt: start.Add(time.Minute)},
		},
	}}
	b, err := json.Marshal(msg)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
