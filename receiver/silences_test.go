package receiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
)

func TestSilencesAPIAndMuting(t *testing.T) {
	s := openStore(t)
	ss := NewSilences(s, nil)
	mux := http.NewServeMux()
	ss.Register(mux, access.New())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+"/api/v2/silences", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	now := time.Now().UTC()
	code, out := post(`{"matchers":[{"name":"alertname","value":"PluginCPUHigh","isRegex":false,"isEqual":true},{"name":"instance_id","value":"i[12]","isRegex":true,"isEqual":true}],
		"startsAt":"` + now.Add(-time.Minute).Format(time.RFC3339) + `","endsAt":"` + now.Add(time.Hour).Format(time.RFC3339) + `","createdBy":"alice","comment":"maintenance"}`)
	id, _ := out["silenceID"].(string)
	if code != http.StatusOK || id == "" {
		t.Fatalf("create: %d %v", code, out)
	}
	ls := func(inst string) model.LabelSet {
		return model.LabelSet{"alertname": "PluginCPUHigh", "instance_id": model.LabelValue(inst)}
	}
	if ss.Mutes(ls("i1"), now) != "silenced by "+id || ss.Mutes(ls("i3"), now) != "" {
		t.Fatal("the silence does not mute what it matches, or mutes more")
	}
	resp, _ := http.Get(srv.URL + "/api/v2/silences?filter=" + `{alertname="PluginCPUHigh"}`)
	var list []gettable
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0].Status["state"] != "active" || list[0].CreatedBy != "alice" {
		t.Fatalf("list: %+v", list)
	}
	if code, out := post(`{"matchers":[{"name":"x","value":"(","isRegex":true,"isEqual":true}],"endsAt":"2030-01-01T00:00:00Z"}`); code != http.StatusBadRequest {
		t.Fatalf("bad regex: %d %v", code, out)
	}
	if code, _ := post(`{"matchers":[],"endsAt":"2030-01-01T00:00:00Z"}`); code != http.StatusBadRequest {
		t.Fatalf("no matchers: %d", code)
	}
	req, _ := http.NewRequest("DELETE", srv.URL+"/api/v2/silence/"+id, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expire: %v %v", err, resp.Status)
	}
	if ss.Mutes(ls("i1"), time.Now()) != "" {
		t.Fatal("an expired silence still mutes")
	}
	if resp, _ := http.Get(srv.URL + "/api/v2/silence/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown id: %d", resp.StatusCode)
	}
}

// A critical alert inhibits the warning of the same alertname and master,
// and nobody else; an alert does not inhibit itself.
func TestInhibition(t *testing.T) {
	r := newRig(t, openStore(t), Timing{GroupWait: time.Second, GroupInterval: time.Minute, RepeatInterval: time.Hour})
	src, _ := labels.ParseMatchers(`severity="critical"`)
	tgt, _ := labels.ParseMatchers(`severity="warning"`)
	r.d.plan.Inhibit = []Inhibition{{Source: src, Target: tgt, Equal: []model.LabelName{"alertname", "master"}}}
	mk := func(master, sev string) Alert {
		return Alert{Labels: map[string]string{"alertname": "GatewayErrorRate", "master": master, "severity": sev}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	}
	r.add(mk("m1", "critical"), mk("m1", "warning"), mk("m2", "warning"))
	r.at(time.Second)
	ms := r.outbox()
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	var got []string
	for _, a := range ms[0].Alerts {
		got = append(got, a.Labels["master"]+"/"+a.Labels["severity"])
	}
	if strings.Join(got, ",") != "m1/critical,m2/warning" && strings.Join(got, ",") != "m2/warning,m1/critical" {
		t.Fatalf("alerts notified: %v", got)
	}
}

// Past receiver.limits.max_silences a new silence is refused with 429
// naming the limit, while the ones in force can still be updated; one
// past max_silence_size is refused whatever the count.
func TestSilenceLimits(t *testing.T) {
	ss := NewSilences(openStore(t), nil)
	ss.Configure(2, 300)
	mux := http.NewServeMux()
	ss.Register(mux, access.New())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(id, comment string) (int, string) {
		t.Helper()
		body := `{"matchers":[{"name":"alertname","value":"A","isRegex":false,"isEqual":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"bob","comment":"` + comment + `"`
		if id != "" {
			body += `,"id":"` + id + `"`
		}
		resp, err := http.Post(srv.URL+"/api/v2/silences", "application/json", strings.NewReader(body+"}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if m, ok := out.(map[string]any); ok {
			id, _ := m["silenceID"].(string)
			return resp.StatusCode, id
		}
		e, _ := out.(string) // an error is a JSON string, as Alertmanager's
		return resp.StatusCode, e
	}
	_, first := post("", "one")
	if code, _ := post("", "two"); code != http.StatusOK {
		t.Fatalf("second silence: %d", code)
	}
	if code, msg := post("", "three"); code != http.StatusTooManyRequests || !strings.Contains(msg, "receiver.limits.max_silences") {
		t.Fatalf("third silence: %d %q, want 429 naming max_silences", code, msg)
	}
	if code, msg := post(first, "one, longer"); code != http.StatusOK {
		t.Fatalf("update at the limit: %d %q", code, msg)
	}
	if code, msg := post(first, strings.Repeat("x", 300)); code != http.StatusTooManyRequests || !strings.Contains(msg, "receiver.limits.max_silence_size") {
		t.Fatalf("oversized silence: %d %q, want 429 naming max_silence_size", code, msg)
	}
	if got := testutil.ToFloat64(ss.rejected.WithLabelValues("max_silences")); got != 1 {
		t.Errorf("rejected{max_silences} = %g", got)
	}
	if got := testutil.ToFloat64(ss.rejected.WithLabelValues("max_silence_size")); got != 1 {
		t.Errorf("rejected{max_silence_size} = %g", got)
	}
}
