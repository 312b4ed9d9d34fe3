package mixin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/ruletest"
)

// rendered evaluates the mixin once for the package's tests, which only
// read the files.
var rendered = sync.OnceValues(func() (map[string][]byte, error) { return Render("..") })

func render(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := rendered()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func ruleGroups(t *testing.T, files map[string][]byte, name string) *rulefmt.RuleGroups {
	t.Helper()
	rgs, errs := rulefmt.Parse(files[name], false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs)
	}
	return rgs
}

// TestGeneratedFilesUpToDate fails when the committed files are not what
// the jsonnet renders: run make mixin and commit.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files := render(t)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what the mixin renders (run make mixin): %v", name, err)
		}
	}
	committed, _ := filepath.Glob(filepath.Join("..", DashboardsDir, "*.json"))
	for _, path := range committed {
		if _, ok := files[DashboardsDir+"/"+filepath.Base(path)]; !ok {
			t.Errorf("%s is not rendered by the mixin: remove it", path)
		}
	}
}

// TestRulesLoad loads the rule files as Prometheus and gatewarden do.
func TestRulesLoad(t *testing.T) {
	files := render(t)
	for _, name := range []string{AlertsFile, RulesFile} {
		ruleGroups(t, files, name)
		if _, err := rules.Parse(files[name], name); err != nil {
			t.Errorf("gatewarden does not load %s: %v", name, err)
		}
	}
}

var (
	camelCase  = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]*$`)
	recordName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$`)
	panelRange = regexp.MustCompile(`\[\$__(rate_interval|range)\]`)
)

// TestLint holds the rules to mixtool lint's conventions, and recording
// rules to level:metric:operations.
func TestLint(t *testing.T) {
	files := render(t)
	for _, g := range ruleGroups(t, files, AlertsFile).Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert
			if r.Alert == "" {
				t.Errorf("%s: a recording rule among the alerts", g.Name)
				continue
			}
			if !camelCase.MatchString(r.Alert) || len(r.Alert) > 40 {
				t.Errorf("%s: alert names are CamelCase of at most 40 characters", where)
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "{{") {
				t.Errorf("%s: description %q has no template", where, d)
			}
			if s := r.Annotations["summary"]; s == "" || strings.Contains(s, "{{") {
				t.Errorf("%s: summary %q must be set and without templates", where, s)
			}
		}
	}
	for _, g := range ruleGroups(t, files, RulesFile).Groups {
		for _, r := range g.Rules {
			if r.Record == "" || !recordName.MatchString(r.Record) {
				t.Errorf("%s: %q: want a recording rule named level:metric:operations", g.Name, r.Record+r.Alert)
			}
		}
	}
}

// TestAlertUnitTests runs the promtool-format unit tests with gatewarden's
// evaluator, as gatewardenctl test rules does.
func TestAlertUnitTests(t *testing.T) {
	res := ruletest.RunFile(context.Background(), "tests/alerts_test.yml", ruletest.Options{})
	for _, err := range res.Failures {
		t.Error(err)
	}
}

// dashboardVars stand in for Grafana's variables, for parsing.
var dashboardVars = map[string]string{
	"__rate_interval": "1m", "__interval": "15s", "__range": "1h",
	"job": ".+", "instance": ".+", "master": ".+", "gateway_job": ".+", "datasource": "prometheus",
}

// TestDashboards checks what Grafana users expect of each dashboard and
// panel, and that every query parses.
func TestDashboards(t *testing.T) {
	files := render(t)
	qs, err := DashboardQueries(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) == 0 {
		t.Fatal("no dashboard queries")
	}
	for _, q := range qs {
		if _, err := rules.ParseExpr(Substitute(q.Expr, dashboardVars)); err != nil {
			t.Errorf("%s: %v", q, err)
		}
		if strings.Contains(q.Expr, "[") && !panelRange.MatchString(q.Expr) {
			t.Errorf("%s: ranges of panels are $__rate_interval or $__range", q)
		}
	}
	uids := map[string]bool{}
	for name, b := range files {
		if !strings.HasPrefix(name, DashboardsDir+"/") {
			continue
		}
		checkDashboard(t, name, b, uids)
	}
}

func checkDashboard(t *testing.T, name string, b []byte, uids map[string]bool) {
	t.Helper()
	var d struct {
		UID, Title, Description string
		Templating              struct{ List []struct{ Name string } }
		Panels                  []struct {
			Title, Description string
			Datasource         struct{ UID string }
			FieldConfig        struct{ Defaults struct{ Unit string } }
			Targets            []struct{ Datasource struct{ UID string } }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if d.UID == "" || d.Title == "" || d.Description == "" || len(d.UID) > 40 || uids[d.UID] {
		t.Errorf("%s: want a unique uid of at most 40 characters, a title and a description: %q %q", name, d.UID, d.Title)
	}
	uids[d.UID] = true
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !slices.Contains(vars, want) {
			t.Errorf("%s: no %s variable", name, want)
		}
	}
	for _, p := range d.Panels {
		if p.Title == "" || p.Description == "" || p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%s: panel %q needs a title, a description and a unit", name, p.Title)
		}
		ok := p.Datasource.UID == "${datasource}" && len(p.Targets) > 0
		for _, tg := range p.Targets {
			ok = ok && tg.Datasource.UID == "${datasource}"
		}
		if !ok {
			t.Errorf("%s: panel %q: every panel and target reads the datasource variable", name, p.Title)
		}
	}
}

// TestGatewayMetricsExist checks that every gateway_* metric the mixin
// names is in gatewaysim's exposition, which follows the gateway's metric
// contract. gatewarden's own metrics are checked against a running
// gatewarden by cmd/gatewarden's TestMixinPanelsHaveLiveData.
func TestGatewayMetricsExist(t *testing.T) {
	sim, err := gatewaysim.New(gatewaysim.DefaultOptions(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	exposed := exposition(t, srv.URL+"/metrics")
	files := render(t)
	exprs, err := Exprs(files, dashboardVars)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		names, err := MetricNames(e)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, "gateway_") && !exposed[n] {
				t.Errorf("%s: gatewaysim does not expose %s", e, n)
			}
		}
	}
}

// exposition lists the sample names of a /metrics page.
func exposition(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	return names
}
