package receiver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// v1Alert is what encoding/json, and so Alertmanager, reads of an alert:
// the reference alertDecoder is held to.
type v1Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

var decoderSeeds = []string{
	`[]`, `null`, `[null]`, `[{}]`,
	`[{"labels":{"alertname":"A","master":"m1"},"annotations":{"summary":"s"},"startsAt":"2026-12-01T10:00:00.123Z","endsAt":"2026-12-01T11:00:00+08:00","generatorURL":"http://prom/graph?g0.expr=up","status":"firing"}]`,
	`[{"Labels":{"a":"1"},"STARTSAT":"2026-12-01T10:00:00Z","GeneratorUrl":"u"}]`,
	`[{"labels":{"a":"1"},"labels":{"b":"2","a":"3"}}]`,
	`[{"labels":{"a":"1"},"labels":null,"status":"resolved","status":null,"startsAt":null}]`,
	`[{"labels":{"caf\u00e9":"\"quoted\"\n\\","x":""},"fingerprint":"abc","receivers":[{"name":"r"}],"extra":{"deep":[1,2,{"k":null}]}}]`,
	` [ { "labels" : { "a" : "b" } } ] trailing`,
	`[{"labels":{"a":1}}]`, `[{"labels":"a"}]`, `[{"startsAt":5}]`, `[{"startsAt":"soon"}]`, `{"labels":{}}`, `[{"labels":{`, `[1]`, `"x"`,
}

// sharedSets lasts across decodeBoth's calls, so that sets read before
// come from the cache, as on a running receiver.
var sharedSets interned

func decodeBoth(body string) (got []postable, gotErr error, want []v1Alert, wantErr error) {
	got, gotErr = newAlertDecoder(strings.NewReader(body), &sharedSets).alerts()
	wantErr = json.NewDecoder(strings.NewReader(body)).Decode(&want)
	return
}

// sameAlerts also holds each fingerprint, computed while decoding, to
// Alertmanager's of the labels decoded.
func sameAlerts(got []postable, want []v1Alert) bool {
	if len(got) != len(want) {
		return false
	}
	for i, p := range got {
		w := want[i]
		if !reflect.DeepEqual(v1Alert{p.Status, p.Labels, p.Annotations, p.StartsAt, p.EndsAt, p.GeneratorURL}, w) {
			return false
		}
		if p.Labels != nil && p.fp != model.Fingerprint(model.LabelsToSignature(p.Labels)).String() {
			return false
		}
	}
	return true
}

// Re-posted sets come back as the same map; a set that differs, even
// where its signature could collide, gets its own.
func TestDecoderSharesRepeatedSets(t *testing.T) {
	var sets interned
	decode := func(body string) []postable {
		ps, err := newAlertDecoder(strings.NewReader(body), &sets).alerts()
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	first := decode(`[{"labels":{"a":"1","b":"2"},"annotations":{"s":"x"}}]`)
	again := decode(`[{"labels":{"b":"2","a":"1"},"annotations":{"s":"x"}},{"labels":{"a":"1","b":"3"},"annotations":{"s":"x"}}]`)
	same := func(x, y map[string]string) bool { return reflect.ValueOf(x).Pointer() == reflect.ValueOf(y).Pointer() }
	if !same(first[0].Labels, again[0].Labels) || !same(first[0].Annotations, again[0].Annotations) || !same(again[0].Annotations, again[1].Annotations) {
		t.Error("a repeated set was built again")
	}
	if same(again[0].Labels, again[1].Labels) || again[1].Labels["b"] != "3" || again[0].fp == again[1].fp {
		t.Errorf("different sets shared: %v %v", again[0].Labels, again[1].Labels)
	}
	// A colliding signature (forced here) is told apart by comparing.
	sets.labels.m[signature([]pair{{"a", 0, 1}}, []byte("9"))] = cachedMap{first[0].Labels, first[0].fp}
	if got := decode(`[{"labels":{"a":"9"}}]`); got[0].Labels["a"] != "9" || len(got[0].Labels) != 1 {
		t.Errorf("collision: %v", got[0].Labels)
	}
}

// TestAlertDecoderReadsWhatEncodingJSONReads: the same alerts from the
// same bodies, and an error where encoding/json has one.
func TestAlertDecoderReadsWhatEncodingJSONReads(t *testing.T) {
	for _, body := range decoderSeeds {
		got, gotErr, want, wantErr := decodeBoth(body)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Errorf("%s: error %v, encoding/json's %v", body, gotErr, wantErr)
		case gotErr == nil && !sameAlerts(got, want):
			t.Errorf("%s:\n got %+v\nwant %+v", body, got, want)
		}
	}
}

func TestWebhookDecoder(t *testing.T) {
	body := `{"receiver":"r","status":"firing","version":"4","groupKey":"{}:{}","truncatedAlerts":0,
	  "alerts":[{"status":"resolved","labels":{"alertname":"A"},"fingerprint":"f"}],"groupLabels":{"alertname":"A"},"externalURL":"http://am"}`
	version, alerts, err := newAlertDecoder(strings.NewReader(body), &interned{}).webhook()
	if err != nil || version != "4" || len(alerts) != 1 || alerts[0].Status != "resolved" || alerts[0].Labels["alertname"] != "A" {
		t.Fatalf("%q %+v %v", version, alerts, err)
	}
	if _, _, err := newAlertDecoder(strings.NewReader(`{"alerts":{}}`), &interned{}).webhook(); err == nil || !strings.Contains(err.Error(), "/alerts: want an array of alerts, got an object") {
		t.Fatalf("alerts as an object: %v", err)
	}
}

// FuzzAlertDecoder holds the decoder to encoding/json on any body: what
// it reads, encoding/json reads the same. It may refuse more: invalid
// UTF-8, which encoding/json replaces.
func FuzzAlertDecoder(f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, gotErr, want, wantErr := decodeBoth(body)
		if gotErr == nil && wantErr == nil && !sameAlerts(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", body, got, want)
		}
		if gotErr == nil && wantErr != nil {
			t.Fatalf("%s: read, but encoding/json says %v", body, wantErr)
		}
	})
}

func BenchmarkDecodeAlerts(b *testing.B) {
	body := alertBatch(0, 100)
	b.Run("alertDecoder", func(b *testing.B) {
		b.ReportAllocs()
		var sets interned
		for b.Loop() {
			if _, err := newAlertDecoder(bytes.NewReader(body), &sets).alerts(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var as []v1Alert
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&as); err != nil {
				b.Fatal(err)
			}
		}
	})
}
