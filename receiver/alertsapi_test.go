package receiver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/gatewarden/gatewarden/internal/storetest"
	"github.com/gatewarden/gatewarden/receiver"
)

// readAPIYAML has a route per receiver, an inhibition, and a time
// interval that mutes its route at every hour, so each state of the read
// API shows. Its webhook URL and SMTP password are secrets no answer
// may carry.
const readAPIYAML = `receiver:
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 1h
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
      - match: {service: db}
        receiver: storage
        mute_time_intervals: [always]
  receivers:
    - name: team
    - name: pager
      webhook_configs: [{url: "http://127.0.0.1:1/hook/URL-TOKEN-41"}]
      email_configs: [{to: ops@example.com, from: gw@example.com, smarthost: "127.0.0.1:1", auth_username: gw, auth_password: SMTP-PASS-42}]
    - name: storage
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [master]
  time_intervals:
    - name: always
      time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]
`

// readAPIRig posts Crit (critical, m1), Warn (warning, m1: inhibited by
// Crit), Quiet (silenced) and Db (its group muted by a time interval).
func readAPIRig(t *testing.T) (p *pipeline, silenceID string) {
	t.Helper()
	dir := newDir(t)
	p = newPipeline(t, storetest.Open(t, sqlite(dir)), dir, readAPIYAML, pipelineOpts{noDelivery: true})
	p.post([]amAlert{
		{Labels: map[string]string{"alertname": "Crit", "severity": "critical", "master": "m1"}, Annotations: map[string]string{"summary": "down"}},
		{Labels: map[string]string{"alertname": "Warn", "severity": "warning", "master": "m1"}},
		{Labels: map[string]string{"alertname": "Quiet", "severity": "warning", "master": "m2"}},
		{Labels: map[string]string{"alertname": "Db", "service": "db", "master": "m3"}},
	})
	code, body := request(t, "POST", p.srv.URL+"/api/v2/silences", `{"matchers":[{"name":"alertname","value":"Quiet","isRegex":false,"isEqual":true}],
		"startsAt":"`+time.Now().UTC().Format(time.RFC3339)+`","endsAt":"2099-01-01T00:00:00Z","createdBy":"me","comment":"c"}`)
	var ok struct{ SilenceID string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &ok) != nil {
		t.Fatalf("silence: %d %s", code, body)
	}
	eventually(t, "the four alerts readable", func() bool { return len(alertNames(t, p, "")) == 4 })
	return p, ok.SilenceID
}

func request(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); len(b) > 0 && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, u, ct)
	}
	return resp.StatusCode, string(b)
}

// getModel decodes a 200 answer into an Alertmanager model and validates
// it against the API's schema.
func getModel(t *testing.T, u string, into interface{ Validate(strfmt.Registry) error }) {
	t.Helper()
	code, body := request(t, "GET", u, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	if err := json.Unmarshal([]byte(body), into); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, body)
	}
	if err := into.Validate(strfmt.Default); err != nil {
		t.Fatalf("GET %s: not Alertmanager's schema: %v\n%s", u, err, body)
	}
}

func alertNames(t *testing.T, p *pipeline, query string) []string {
	t.Helper()
	var as models.GettableAlerts
	getModel(t, p.srv.URL+"/api/v2/alerts?"+query, &as)
	var names []string
	for _, a := range as {
		names = append(names, a.Labels["alertname"])
	}
	slices.Sort(names)
	return names
}

func TestReadAPIAlertFilters(t *testing.T) {
	t.Parallel()
	p, _ := readAPIRig(t)
	for _, tc := range []struct{ query, want string }{
		{"", "Crit Db Quiet Warn"},
		{"active=false", "Quiet Warn"},
		{"silenced=false", "Crit Db Warn"},
		{"inhibited=false", "Crit Db Quiet"},
		// amtool's default: active only.
		{"active=true&inhibited=false&silenced=false&unprocessed=false", "Crit Db"},
		{"unprocessed=false", "Crit Db Quiet Warn"},
		{"receiver=pager", "Crit"},
		{"receiver=team|storage", "Db Quiet Warn"},
		{"receiver=pag", ""},
		{"filter=" + url.QueryEscape(`severity="warning"`), "Quiet Warn"},
		{"filter=" + url.QueryEscape(`alertname=~"C.*|W.*"`) + "&filter=" + url.QueryEscape(`master="m1"`), "Crit Warn"},
		{"filter=" + url.QueryEscape(`service!="db"`) + "&silenced=false", "Crit Warn"},
		// Unknown parameters, as Grafana passes the browser's on, are ignored.
		{"ruleMetadata=true&accesscontrol=true", "Crit Db Quiet Warn"},
	} {
		if got := strings.Join(alertNames(t, p, tc.query), " "); got != tc.want {
			t.Errorf("GET /api/v2/alerts?%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"filter=" + url.QueryEscape(`foo=~"(`), "receiver=(", "active=maybe"} {
		code, body := request(t, "GET", p.srv.URL+"/api/v2/alerts?"+q, "")
		var msg string
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &msg) != nil || msg == "" {
			t.Errorf("GET /api/v2/alerts?%s: %d %s, want 400 with a JSON string", q, code, body)
		}
	}
}

func TestReadAPIAlertStatus(t *testing.T) {
	t.Parallel()
	p, silence := readAPIRig(t)
	var as models.GettableAlerts
	getModel(t, p.srv.URL+"/api/v2/alerts", &as)
	byName := map[string]*models.GettableAlert{}
	for i, a := range as {
		byName[a.Labels["alertname"]] = a
		if i > 0 && *as[i-1].Fingerprint >= *a.Fingerprint {
			t.Errorf("alerts not sorted by fingerprint")
		}
	}
	crit := byName["Crit"]
	for name, want := range map[string]struct {
		state               string
		silenced, inhibited []string
		receivers           string
	}{
		"Crit":  {"active", []string{}, []string{}, "pager"},
		"Warn":  {"suppressed", []string{}, []string{*crit.Fingerprint}, "team"},
		"Quiet": {"suppressed", []string{silence}, []string{}, "team"},
		"Db":    {"active", []string{}, []string{}, "storage"},
	} {
		a := byName[name]
		var rs []string
		for _, r := range a.Receivers {
			rs = append(rs, *r.Name)
		}
		if *a.Status.State != want.state || !slices.Equal(a.Status.SilencedBy, want.silenced) ||
			!slices.Equal(a.Status.InhibitedBy, want.inhibited) || strings.Join(rs, ",") != want.receivers {
			t.Errorf("%s: state %s silencedBy %v inhibitedBy %v receivers %v, want %+v", name, *a.Status.State,
				a.Status.SilencedBy, a.Status.InhibitedBy, rs, want)
		}
	}
	if crit.Annotations["summary"] != "down" || time.Time(*crit.EndsAt).Before(time.Time(*crit.StartsAt)) || time.Time(*crit.UpdatedAt).IsZero() {
		t.Errorf("Crit: annotations %v, startsAt %v, endsAt %v, updatedAt %v", crit.Annotations, crit.StartsAt, crit.EndsAt, crit.UpdatedAt)
	}
}

func TestReadAPIGroups(t *testing.T) {
	t.Parallel()
	p, _ := readAPIRig(t)
	groups := func(query string) string {
		var gs models.AlertGroups
		getModel(t, p.srv.URL+"/api/v2/alerts/groups?"+query, &gs)
		var out []string
		for _, g := range gs {
			s := *g.Receiver.Name + models.LabelSet(g.Labels)["alertname"] + ":"
			for _, a := range g.Alerts {
				s += a.Labels["alertname"] + "/" + *a.Status.State + strings.Join(a.Status.MutedBy, ",")
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "pagerCrit:Crit/active storageDb:Db/suppressedalways teamQuiet:Quiet/suppressed teamWarn:Warn/suppressed"},
		{"muted=false", "pagerCrit:Crit/active teamQuiet:Quiet/suppressed teamWarn:Warn/suppressed"},
		{"receiver=team&silenced=false", "teamWarn:Warn/suppressed"},
		// As in Alertmanager, states filter by silences and inhibitions;
		// a muted group's alerts count as active there.
		{"active=false&inhibited=false", "teamQuiet:Quiet/suppressed"},
		{"filter=" + url.QueryEscape(`master="m1"`), "pagerCrit:Crit/active teamWarn:Warn/suppressed"},
	} {
		if got := groups(tc.query); got != tc.want {
			t.Errorf("GET /api/v2/alerts/groups?%s:\n got %s\nwant %s", tc.query, got, tc.want)
		}
	}
}

// The status is Alertmanager's, and its config is one Alertmanager's own
// loader takes (amtool's config routes and Grafana load it), without a
// secret.
func TestReadAPIStatusAndReceivers(t *testing.T) {
	t.Parallel()
	p, _ := readAPIRig(t)
	var st models.AlertmanagerStatus
	getModel(t, p.srv.URL+"/api/v2/status", &st)
	if *st.Cluster.Status != models.ClusterStatusStatusDisabled || len(st.Cluster.Peers) != 0 || *st.VersionInfo.Version != receiver.AlertmanagerVersion {
		t.Errorf("cluster %+v, version %s", st.Cluster, *st.VersionInfo.Version)
	}
	original := *st.Config.Original
	for _, secret := range []string{"URL-TOKEN-41", "SMTP-PASS-42"} {
		if strings.Contains(original, secret) {
			t.Errorf("a secret in the status:\n%s", original)
		}
	}
	cfg, err := amconfig.Load(original)
	if err != nil {
		t.Fatalf("Alertmanager's loader refuses the status config: %v\n%s", err, original)
	}
	if cfg.Route.Receiver != "team" || len(cfg.Route.Routes) != 2 || cfg.Route.Routes[1].MuteTimeIntervals[0] != "always" ||
		len(cfg.Receivers) != 3 || len(cfg.Receivers[1].WebhookConfigs) != 1 || len(cfg.InhibitRules) != 1 || len(cfg.TimeIntervals) != 1 {
		t.Errorf("the loaded config lost parts:\n%s", original)
	}
	var rs []*models.Receiver
	code, body := request(t, "GET", p.srv.URL+"/api/v2/receivers", "")
	if err := json.Unmarshal([]byte(body), &rs); code != http.StatusOK || err != nil || len(rs) != 3 || *rs[1].Name != "pager" {
		t.Fatalf("receivers: %d %s", code, body)
	}
	for _, r := range rs {
		if err := r.Validate(strfmt.Default); err != nil {
			t.Error(err)
		}
	}
}

// AlertmanagerVersion is the pinned module's, so the status says the
// version whose API gatewarden serves.
func TestAlertmanagerVersionIsThePinnedModule(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/prometheus/alertmanager" && d.Version != "v"+receiver.AlertmanagerVersion {
			t.Errorf("AlertmanagerVersion %s, the module is %s", receiver.AlertmanagerVersion, d.Version)
		}
	}
}
