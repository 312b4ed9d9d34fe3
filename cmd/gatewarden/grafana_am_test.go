package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	amconfig "github.com/prometheus/alertmanager/config"
)

// grafanaCall is one request Grafana 12's Alertmanager data source
// (implementation "prometheus") makes through its proxy, as
// pkg/services/ngalert/api/lotex_am.go and the alerting UI send it.
type grafanaCall struct {
	method, path, body string
	token              string
	code               int
	// into is the amv2 model Grafana decodes the answer with (nil: the
	// body is ignored).
	into interface{ Validate(strfmt.Registry) error }
}

// TestGrafanaAlertmanagerDataSource replays the data source's health
// check, its alert, group and silence lists, and a silence created and
// expired, each answered with the status and shape Grafana decodes.
func TestGrafanaAlertmanagerDataSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, amtoolConfig(t, dir))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	if resp, b := d.send("POST", "/api/v2/alerts",
		`[{"labels":{"alertname":"Crit","severity":"critical","master":"m1"}},{"labels":{"alertname":"Warn","severity":"warning","master":"m1"}}]`, tokIngest); resp.StatusCode != http.StatusOK {
		t.Fatalf("posting alerts: %s %s", resp.Status, b)
	}
	filter := "filter=" + url.QueryEscape(`master="m1"`)
	silence := `{"matchers":[{"name":"alertname","value":"Warn","isEqual":true,"isRegex":false}],"startsAt":"` +
		time.Now().UTC().Format(time.RFC3339) + `","endsAt":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) +
		`","createdBy":"admin","comment":"from Grafana"}`
	d.eventually("the alerts held", func() bool {
		var as models.GettableAlerts
		return grafanaDo(t, d.url, grafanaCall{method: "GET", path: "/api/v2/alerts", token: tokRead, code: 200, into: &as}) && len(as) == 2
	})
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	for _, c := range []grafanaCall{
		// The health check: buildinfo for the flavour, then the
		// Mimir-style path must fail and the plain one answer.
		{method: "GET", path: "/api/v1/status/buildinfo", token: tokRead, code: 200},
		{method: "GET", path: "/alertmanager/api/v2/status", token: tokRead, code: 404},
		{method: "GET", path: "/api/v2/status", token: tokRead, code: 200, into: &models.AlertmanagerStatus{}},
		{method: "GET", path: "/api/v2/alerts?" + filter + "&silenced=false&active=true&inhibited=false", token: tokRead, code: 200, into: &models.GettableAlerts{}},
		{method: "GET", path: "/api/v2/alerts?" + filter + "&silenced=true&active=true&inhibited=true&unprocessed=true", token: tokRead, code: 200, into: &models.GettableAlerts{}},
		{method: "GET", path: "/api/v2/alerts/groups?" + filter + "&receiver=team&active=true&silenced=false&inhibited=false", token: tokRead, code: 200, into: &models.AlertGroups{}},
		{method: "GET", path: "/api/v2/alerts/groups", token: tokRead, code: 200, into: &models.AlertGroups{}},
		{method: "GET", path: "/api/v2/silences", token: tokRead, code: 200, into: &models.GettableSilences{}},
		{method: "POST", path: "/api/v2/silences", body: silence, token: tokIngest, code: 200},
	} {
		if c.method == "POST" {
			grafanaDecode(t, d.url, c, &created)
			continue
		}
		grafanaDo(t, d.url, c)
	}
	if created.SilenceID == "" {
		t.Fatal("no silenceID")
	}
	var silences models.GettableSilences
	grafanaDo(t, d.url, grafanaCall{method: "GET", path: "/api/v2/silences", token: tokRead, code: 200, into: &silences})
	if len(silences) != 1 || *silences[0].ID != created.SilenceID || *silences[0].Status.State != "active" {
		t.Errorf("silences after the create: %+v", silences)
	}
	grafanaDo(t, d.url, grafanaCall{method: "GET", path: "/api/v2/silence/" + created.SilenceID, token: tokRead, code: 200, into: &models.GettableSilence{}})
	grafanaDo(t, d.url, grafanaCall{method: "DELETE", path: "/api/v2/silence/" + created.SilenceID, token: tokIngest, code: 200})
	var expired models.GettableSilence
	grafanaDo(t, d.url, grafanaCall{method: "GET", path: "/api/v2/silence/" + created.SilenceID, token: tokRead, code: 200, into: &expired})
	if *expired.Status.State != "expired" {
		t.Errorf("after DELETE the silence is %s", *expired.Status.State)
	}
	// Grafana's GettableStatus loads config.original as Alertmanager's
	// config; a config it cannot load is a 500 in its UI.
	var st models.AlertmanagerStatus
	grafanaDo(t, d.url, grafanaCall{method: "GET", path: "/api/v2/status", token: tokRead, code: 200, into: &st})
	if _, err := amconfig.Load(*st.Config.Original); err != nil {
		t.Errorf("Grafana cannot load the status config: %v", err)
	}
	d.stop()
}

// grafanaDo sends c as Grafana's proxy does and decodes the answer into
// c.into, validating it; it reports whether the answer was as expected.
func grafanaDo(t *testing.T, base string, c grafanaCall) bool {
	t.Helper()
	return grafanaDecode(t, base, c, c.into)
}

func grafanaDecode(t *testing.T, base string, c grafanaCall, into any) bool {
	t.Helper()
	req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.code {
		t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.code)
		return false
	}
	if into == nil {
		return true
	}
	// Grafana's jsonExtractor takes only a JSON Content-Type.
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("%s %s: Content-Type %q", c.method, c.path, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Errorf("%s %s: %v\n%s", c.method, c.path, err, body)
		return false
	}
	if v, ok := into.(interface{ Validate(strfmt.Registry) error }); ok {
		if err := v.Validate(strfmt.Default); err != nil {
			t.Errorf("%s %s: not Alertmanager's schema: %v\n%s", c.method, c.path, err, body)
			return false
		}
	}
	return true
}
