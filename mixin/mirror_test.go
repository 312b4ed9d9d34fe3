package mixin

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/gatewarden/gatewarden/rules"
)

// bound is one comparison with a number that a mixin alert puts after its
// base expression: the band of values it fires on.
type bound struct {
	op    string
	value float64
}

// peel splits expr into its base (parentheses removed, job matchers
// dropped, printed) and the comparisons with numbers chained after it,
// innermost first: "(B) > 0.05 <= 0.2" is B, [> 0.05, <= 0.2].
func peel(t *testing.T, expr string) (string, []bound) {
	t.Helper()
	e, err := rules.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var bs []bound
	for {
		b, ok := e.(*parser.BinaryExpr)
		if !ok || !b.Op.IsComparisonOperator() || b.ReturnBool {
			break
		}
		n, ok := b.RHS.(*parser.NumberLiteral)
		if !ok {
			break
		}
		bs = append([]bound{{b.Op.String(), n.Val}}, bs...)
		e = b.LHS
	}
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	// The mixin selects the gateway's series by job, which gatewarden,
	// scraping the gateway alone, does not need.
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = slices.DeleteFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == "job" })
		}
		return nil
	})
	return e.String(), bs
}

// Alerts whose wording or expression differ from the pack's on purpose:
// the spike compares against minutes ago (a window of #6 has no plain
// form) and reports a rise in per cent, the no-data form is per master
// over an hour, and it is the central Prometheus that scrapes the target.
var ownExpr = map[string]bool{"GatewayTrafficSpike": true, "GatewayNoData": true}
var ownWording = map[string]bool{"GatewayTrafficSpike": true, "GatewayNoData": true, "GatewayTargetDown": true}

// TestGatewayAlertsMirrorBuiltinPack holds the mixin's gateway alerts to
// the built-in rule pack: the same alerts, expressions, operators,
// thresholds per severity, steps, and a for that spans the pack's window.
func TestGatewayAlertsMirrorBuiltinPack(t *testing.T) {
	files := render(t)
	mixinAlerts := map[string][]rulefmt.Rule{}
	for _, g := range ruleGroups(t, files, AlertsFile).Groups {
		for _, r := range g.Rules {
			mixinAlerts[r.Alert] = append(mixinAlerts[r.Alert], r)
		}
	}
	interval := evaluationInterval(t)
	pack, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	recorded := recordings(t, files)
	for _, g := range pack.Groups {
		for _, r := range g.Rules {
			if !r.IsAlert() {
				if want, _ := peel(t, r.Expr); recorded[r.Record] != want {
					t.Errorf("recording %s: mixin %q, pack %q", r.Record, recorded[r.Record], want)
				}
				continue
			}
			got := mixinAlerts[r.Alert]
			if len(got) == 0 {
				t.Errorf("%s: in the built-in pack, not in the mixin", r.Alert)
				continue
			}
			for _, m := range got {
				t.Run(r.Alert+"/"+m.Labels["severity"]+m.Labels["step"], func(t *testing.T) { mirrors(t, &r, m, interval) })
			}
		}
	}
}

func mirrors(t *testing.T, pack *rules.Rule, m rulefmt.Rule, interval time.Duration) {
	base, bounds := peel(t, m.Expr)
	packBase, _ := peel(t, pack.Expr)
	if !ownExpr[pack.Alert] && base != packBase {
		t.Errorf("expression\n  mixin %s\n  pack  %s", base, packBase)
	}
	if !ownWording[pack.Alert] && m.Annotations["description"] != pack.Annotations["summary"] {
		t.Errorf("description %q, the pack's summary %q", m.Annotations["description"], pack.Annotations["summary"])
	}
	if want := packBounds(t, pack, m.Labels); want != nil && fmt.Sprint(bounds) != fmt.Sprint(want) {
		t.Errorf("thresholds %v, the pack's %v", bounds, want)
	}
	// A window of all: it held for every one of the last N evaluations.
	if c := pack.Condition; c != nil && c.Func == rules.FuncAll && c.Window.Points > 0 {
		if want := model.Duration(time.Duration(c.Window.Points-1) * interval); m.For != want {
			t.Errorf("for %v, want %v: the pack's window of %d evaluations", m.For, want, c.Window.Points)
		}
	}
	if pack.Condition == nil && len(pack.Steps) == 0 && m.For != model.Duration(pack.For) {
		t.Errorf("for %v, the pack's %v", m.For, pack.For)
	}
	if pack.Labels["severity"] != "" && m.Labels["severity"] != pack.Labels["severity"] {
		t.Errorf("severity %q, the pack's %q", m.Labels["severity"], pack.Labels["severity"])
	}
}

// packBounds is the band the mixin alert with labels should fire on,
// from the pack's steps, levels or condition; nil when the pack's form
// has no threshold (nodata).
func packBounds(t *testing.T, r *rules.Rule, ls map[string]string) []bound {
	t.Helper()
	upper := map[string]string{">": "<=", ">=": "<", "<": ">=", "<=": ">"}
	if len(r.Steps) > 0 {
		step, err := strconv.ParseFloat(ls["step"], 64)
		i := slices.Index(r.Steps, step)
		if err != nil || i < 0 {
			t.Fatalf("step %q is not one of the pack's %v", ls["step"], r.Steps)
		}
		if i+1 < len(r.Steps) {
			return []bound{{">=", step}, {"<", r.Steps[i+1]}}
		}
		return []bound{{">=", step}}
	}
	c := r.Condition
	if c == nil || c.Func == rules.FuncNoData {
		return nil
	}
	op := string(c.Op)
	levels := r.EffectiveLevels()
	if len(levels) == 0 {
		return []bound{{op, c.Value}}
	}
	for i, l := range levels {
		if l.Level.String() != ls["severity"] {
			continue
		}
		if i == 0 {
			return []bound{{op, l.Value}}
		}
		return []bound{{op, l.Value}, {upper[op], levels[i-1].Value}}
	}
	t.Fatalf("severity %q is none of the pack's levels %v", ls["severity"], levels)
	return nil
}

func recordings(t *testing.T, files map[string][]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range ruleGroups(t, files, RulesFile).Groups {
		for _, r := range g.Rules {
			out[r.Record], _ = peel(t, r.Expr)
		}
	}
	return out
}

// evaluationInterval reads the interval the mixin's for durations assume.
func evaluationInterval(t *testing.T) time.Duration {
	t.Helper()
	js, err := newVM("..").EvaluateAnonymousSnippet("interval.jsonnet", "(import 'mixin.libsonnet')._config.evaluationInterval")
	if err != nil {
		t.Fatal(err)
	}
	s, err := strconv.Atoi(js[:len(js)-1])
	if err != nil {
		t.Fatalf("evaluationInterval %q: %v", js, err)
	}
	return time.Duration(s) * time.Second
}
