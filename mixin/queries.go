package mixin

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/rules"
)

// Query is one PromQL expression of a dashboard: a panel's target, or the
// series selector of a template variable's label_values().
type Query struct {
	Dashboard string // file name
	Panel     string // panel title, or "variable NAME"
	Expr      string
	Variable  bool
}

func (q Query) String() string { return fmt.Sprintf("%s: %s: %s", q.Dashboard, q.Panel, q.Expr) }

type board struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// DashboardQueries lists the expressions of the rendered dashboards among
// files (as Render returns them), in a stable order.
func DashboardQueries(files map[string][]byte) ([]Query, error) {
	var out []Query
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasPrefix(name, DashboardsDir+"/") {
			continue
		}
		var b board
		if err := json.Unmarshal(files[name], &b); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, v := range b.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				return nil, fmt.Errorf("%s: variable %s: %q is not label_values(series, label)", name, v.Name, v.Definition)
			}
			out = append(out, Query{Dashboard: name, Panel: "variable " + v.Name, Expr: m[1], Variable: true})
		}
		for _, p := range b.Panels {
			for _, t := range p.Targets {
				out = append(out, Query{Dashboard: name, Panel: p.Title, Expr: t.Expr})
			}
		}
	}
	return out, nil
}

// Substitute replaces Grafana's variables in expr ($name and ${name}) with
// vars; longer names first, so that $job does not eat $job_name.
func Substitute(expr string, vars map[string]string) string {
	names := slices.SortedFunc(maps.Keys(vars), func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, n := range names {
		pairs = append(pairs, "${"+n+"}", vars[n])
	}
	for _, n := range names {
		pairs = append(pairs, "$"+n, vars[n])
	}
	return strings.NewReplacer(pairs...).Replace(expr)
}

// MetricNames lists the metric names expr selects, sorted.
func MetricNames(expr string) ([]string, error) {
	e, err := rules.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name != "" {
			seen[name] = true
		}
		return nil
	})
	return slices.Sorted(maps.Keys(seen)), nil
}

// Exprs lists every expression of the rendered rule files and dashboards,
// the dashboards' with vars substituted.
func Exprs(files map[string][]byte, vars map[string]string) ([]string, error) {
	var out []string
	for _, name := range []string{AlertsFile, RulesFile} {
		var groups rulefmt.RuleGroups
		if err := yaml.Unmarshal(files[name], &groups); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				out = append(out, r.Expr)
			}
		}
	}
	qs, err := DashboardQueries(files)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		out = append(out, Substitute(q.Expr, vars))
	}
	return out, nil
}
