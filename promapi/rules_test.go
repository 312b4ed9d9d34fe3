package promapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
)

func TestRulesAndAlerts(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: gateway
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.instance }} is down"}
      - alert: Busy
        expr: rate(gateway_requests_total[5m])
        condition: {function: max, window: "#1", op: ">", value: 0.01}
        escalate: 2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := ruleFixture(t, dir, "rules.yml")

	rules := f.get(t, "/api/v1/rules", nil)
	for _, want := range []string{
		`"name":"gateway","file":"` + rulesFile + `"`,
		`{"name":"job:up:sum","query":"sum by (job) (up)","labels":{},"health":"ok"`,
		`"type":"recording"`,
		`"state":"firing","name":"TargetDown","query":"up == 0","duration":0,"keepFiringFor":0,"labels":{"severity":"critical"}`,
		`"alerts":[{"labels":{"alertname":"TargetDown","instance":"b:9100","job":"gateway","severity":"critical"},"annotations":{"summary":"b:9100 is down"},"state":"firing"`,
		`"gatewarden":{"condition":{"function":"max","window":"#1","op":"\u003e","value":0.01},"escalate":2}`,
	} {
		if !strings.Contains(rules.body, want) {
			t.Errorf("/api/v1/rules lacks %s\n%s", want, rules.body)
		}
	}
	if r := f.get(t, "/api/v1/rules", map[string][]string{"type": {"record"}}); strings.Contains(r.body, "TargetDown") {
		t.Errorf("type=record lists alerting rules: %s", r.body)
	}
	alerts := f.get(t, "/api/v1/alerts", nil)
	if !strings.Contains(alerts.body, `{"status":"success","data":{"alerts":[`) || !strings.Contains(alerts.body, `"alertname":"TargetDown"`) {
		t.Errorf("/api/v1/alerts: %s", alerts.body)
	}
}

// ruleFixture serves the rule files, listed as in rule_files, of dir,
// evaluated once at testNow.
func ruleFixture(t *testing.T, dir, files string) *fixture {
	var m *evaluator.Manager
	f := newFixture(t, func(o *Options) {
		m = evaluator.NewManager(evaluator.Options{Queryable: o.Queryable, Appendable: f0db(o), Engine: NewEngine(nil, nil, 0, 0)})
		o.Rules = m
	})
	cfg, err := config.Load([]byte("rule_files: ["+files+"]\n"), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	m.EvalAt(context.Background(), testNow)
	return f
}

// f0db is the fixture's TSDB, which is also where rules write.
func f0db(o *Options) storage.Appendable { return o.Queryable.(storage.Appendable) }

// TestRuleFilters holds /api/v1/rules to Prometheus's parameters: sets of
// names, groups and files, match[] on the rules' labels, type,
// exclude_alerts, pages of groups, and a 400 for each malformed one.
func TestRuleFilters(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", `groups:
  - name: up
    rules:
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical}
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: spend
    rules:
      - alert: Spend
        expr: vector(1)
        labels: {severity: warning}
`)
	write("b.yml", `groups:
  - name: records
    rules:
      - record: job:up:count
        expr: count by (job) (up)
`)
	f := ruleFixture(t, dir, "a.yml, b.yml")

	type page struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name   string            `json:"name"`
					State  string            `json:"state"`
					Alerts []json.RawMessage `json:"alerts"`
				} `json:"rules"`
			} `json:"groups"`
			Next string `json:"groupNextToken"`
		} `json:"data"`
	}
	list := func(params url.Values) (page, string) {
		t.Helper()
		r := f.get(t, "/api/v1/rules", params)
		var p page
		if r.code != http.StatusOK {
			t.Fatalf("%v: %d %s", params, r.code, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range p.Data.Groups {
			var rs []string
			for _, r := range g.Rules {
				rs = append(rs, r.Name)
			}
			names = append(names, g.Name+"["+strings.Join(rs, ",")+"]")
		}
		return p, strings.Join(names, " ")
	}
	for _, c := range []struct {
		params url.Values
		want   string
	}{
		// Groups by file, then name, as Prometheus sorts them.
		{nil, "spend[Spend] up[TargetDown,job:up:sum] records[job:up:count]"},
		{url.Values{"type": {"ALERT"}}, "spend[Spend] up[TargetDown]"},
		{url.Values{"type": {"record"}}, "up[job:up:sum] records[job:up:count]"},
		{url.Values{"rule_name[]": {"Spend", "job:up:count"}}, "spend[Spend] records[job:up:count]"},
		{url.Values{"rule_group[]": {"up"}}, "up[TargetDown,job:up:sum]"},
		{url.Values{"file[]": {filepath.Join(dir, "b.yml")}}, "records[job:up:count]"},
		{url.Values{"match[]": {`{severity="critical"}`, `{severity="warning"}`}}, "spend[Spend] up[TargetDown]"},
		{url.Values{"match[]": {`{severity=~"crit.*"}`}, "type": {"record"}}, ""},
	} {
		if _, got := list(c.params); got != c.want {
			t.Errorf("%v: %q, want %q", c.params, got, c.want)
		}
	}

	p, _ := list(url.Values{"rule_name[]": {"TargetDown"}, "exclude_alerts": {"true"}})
	if r := p.Data.Groups[0].Rules[0]; r.State != "firing" || r.Alerts != nil {
		t.Errorf("exclude_alerts: state %q, alerts %s; want firing and none", r.State, r.Alerts)
	}

	var pages []string
	next := ""
	for range 4 {
		params := url.Values{"group_limit": {"2"}}
		if next != "" {
			params.Set("group_next_token", next)
		}
		p, got := list(params)
		pages = append(pages, got)
		if next = p.Data.Next; next == "" {
			break
		}
	}
	if want := []string{"spend[Spend] up[TargetDown,job:up:sum]", "records[job:up:count]"}; !slices.Equal(pages, want) {
		t.Errorf("pages of 2 groups: %q, want %q", pages, want)
	}

	for _, bad := range []url.Values{
		{"type": {"alerts"}},
		{"exclude_alerts": {"maybe"}},
		{"group_limit": {"0"}},
		{"group_limit": {"x"}},
		{"group_next_token": {"abc"}},
		{"group_limit": {"1"}, "group_next_token": {"abc"}},
		{"match[]": {`{severity=""}`}},
		{"match[]": {`{`}},
	} {
		if r := f.get(t, "/api/v1/rules", bad); r.code != http.StatusBadRequest || !strings.Contains(r.body, `"errorType":"bad_data"`) {
			t.Errorf("%v: %d %s, want 400 bad_data", bad, r.code, r.body)
		}
	}
}
