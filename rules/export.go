package rules

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// Export compiles rule groups into plain Prometheus rule groups, so that a
// central Prometheus runs the same alerts. interval is the evaluation
// interval of groups that set none; every group is written with its
// interval, since the window forms are compiled for it.
//
// Each extension maps to plain rules, with F(v) the form Condition.PromQL
// gives for the condition at threshold v, L the latest value of expr
// (last_over_time((expr)[i:i]), so that $value in templates is expr's
// value, as in gatewarden, and not the form's), and A the alert's own
// series ALERTS{alertname="…", alertstate="firing", nodata=""}:
//
//	rule without extensions   unchanged, as are recording rules
//	condition                 L and (F(value)); nodata: F alone, L being absent
//	levels, escalate          one rule per level, most severe first, label
//	                          severity: L and (F(level)) unless (F(more severe))…,
//	                          so that one severity fires at a time
//	recover R                 hit or ((L unless (R)) and ignoring(…) A{severity}
//	                          unless (F(other levels))…): a firing alert stays
//	                          firing while present and R does not hold
//	nodata {for, severity}    an extra rule of the same name, labels
//	                          nodata="true" and severity, with the nodata form
//	                          over a window of for
//	steps                     one rule per step, (expr) >= step, label step
//	action                    label action, for Alertmanager to route on
//
// Labels and annotations are kept on every rule, for and keep_firing_for
// on all but the nodata and step ones, which gatewarden fires at once, and
// the action label goes on all but the nodata one, as in gatewarden. The
// group's name, limit, labels and query_offset are kept.
//
// Recovery reads A as the previous evaluation left it, ignoring the labels
// the rule and group add, and requires the series present now, as
// gatewarden judges recovery only for a series its expression returns. It
// is exact, provided that no other rule has the same alert name.
//
// Exact, as Condition.PromQL is, when Prometheus evaluates every interval
// and gatewarden at the multiples of it, except where a warning says
// otherwise:
//   - levels with for or keep_firing_for: every severity is its own
//     Prometheus alert, so after a change of level the new one waits for
//     again and the old one keeps firing for keep_firing_for;
//   - keep_firing_for over a window of several points: a series that
//     returns within the observation window is not judged until its
//     window fills again; meanwhile gatewarden leaves the alert as it is,
//     Prometheus takes the condition as not holding, so that the alert
//     may end (or, after for, fire again) at another time;
//   - steps: Prometheus fires while the value is at or above a step;
//     gatewarden announces each step once per period and keeps it firing
//     until the period ends, while the value is lower or absent too;
//   - nodata blocks: Prometheus remembers a series NoDataMemory windows
//     (of for) after its last point, gatewarden for a day;
//   - a query_offset that is not a multiple of the interval: Prometheus
//     reads the aligned steps before the offset time, gatewarden the
//     offset time itself.
//
// The one difference without a warning is the second one's on other data:
// pdiff while every earlier point of the window is 0 is not judged either.
// Not exported at all: runtime threshold overrides, and the steps_crossed
// annotation.
func Export(gs *Groups, interval time.Duration) (out *rulefmt.RuleGroups, warnings []string, err error) {
	if interval <= 0 {
		return nil, nil, fmt.Errorf("interval %v: must be positive", interval)
	}
	names := map[string]int{}
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			if r.IsAlert() {
				names[r.Alert]++
			}
		}
	}
	out = &rulefmt.RuleGroups{}
	var errs []error
	for i := range gs.Groups {
		g := &gs.Groups[i]
		x := exporter{g: g, interval: cmp.Or(time.Duration(g.Interval), interval), names: names}
		rg := rulefmt.RuleGroup{Name: g.Name, Interval: model.Duration(x.interval), Limit: g.Limit, Labels: maps.Clone(g.Labels)}
		if g.QueryOffset != nil {
			d := model.Duration(*g.QueryOffset)
			rg.QueryOffset = &d
		}
		for j := range g.Rules {
			rs, err := x.rule(&g.Rules[j])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", x.where(&g.Rules[j]), err))
				continue
			}
			rg.Rules = append(rg.Rules, rs...)
		}
		if g.QueryOffset != nil && time.Duration(*g.QueryOffset)%x.interval != 0 && x.windows() {
			x.warn(nil, fmt.Sprintf("query_offset %s is not a multiple of the interval %s: Prometheus judges the windows over the aligned evaluations before the offset time, gatewarden over the values at it",
				model.Duration(*g.QueryOffset), model.Duration(x.interval)))
		}
		warnings = append(warnings, x.warnings...)
		out.Groups = append(out.Groups, rg)
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return out, warnings, nil
}

// EffectiveLevels returns the rule's thresholds most severe first, escalate
// spelled out as its two levels: critical at value × escalate, warning at
// value. Without levels it returns none.
func (r *Rule) EffectiveLevels() []Level {
	if r.Escalate != 0 && r.Condition != nil {
		return []Level{{Level: Critical, Value: r.Condition.Value * r.Escalate}, {Level: Warning, Value: r.Condition.Value}}
	}
	return r.SortedLevels()
}

// SeverityLabel is the severity of the nodata alert: warning unless set.
func (n *NoData) SeverityLabel() string { return cmp.Or(n.Severity, Warning.String()) }

// exporter compiles the rules of one group.
type exporter struct {
	g        *Group
	interval time.Duration
	names    map[string]int // alerting rules per alert name, in all groups
	warnings []string
}

func (x *exporter) where(r *Rule) string {
	kind := "record"
	if r.IsAlert() {
		kind = "alert"
	}
	s := fmt.Sprintf("group %q, %s %q", x.g.Name, kind, r.Name())
	if x.g.File != "" {
		s = x.g.File + ": " + s
	}
	return s
}

// warn notes a difference of r's export, or of the group's when r is nil.
func (x *exporter) warn(r *Rule, msg string) {
	where := fmt.Sprintf("group %q", x.g.Name)
	if x.g.File != "" {
		where = x.g.File + ": " + where
	}
	if r != nil {
		where = x.where(r)
	}
	x.warnings = append(x.warnings, where+": "+msg)
}

// windows reports whether a rule of the group judges a window.
func (x *exporter) windows() bool {
	return slices.ContainsFunc(x.g.Rules, func(r Rule) bool { return r.Condition != nil || r.Recover != nil || r.NoData != nil })
}

// rule compiles one rule into the Prometheus rules that stand for it.
func (x *exporter) rule(r *Rule) ([]rulefmt.Rule, error) {
	plain := rulefmt.Rule{
		Record: r.Record, Alert: r.Alert, Expr: r.Expr, For: model.Duration(r.For), KeepFiringFor: model.Duration(r.KeepFiringFor),
		Labels: maps.Clone(r.Labels), Annotations: maps.Clone(r.Annotations),
	}
	if !r.IsAlert() || !r.hasExtensions() {
		return []rulefmt.Rule{plain}, nil
	}
	if r.Action != "" {
		if v, ok := r.Labels["action"]; ok && v != r.Action {
			x.warn(r, fmt.Sprintf("its label action=%q is replaced by its action %q", v, r.Action))
		}
		plain.Labels = withLabel(plain.Labels, "action", r.Action)
	}
	var (
		out []rulefmt.Rule
		err error
	)
	if len(r.Steps) > 0 {
		out, err = x.steps(r, plain)
	} else {
		out, err = x.alert(r, plain)
	}
	if err != nil {
		return nil, err
	}
	if r.NoData != nil {
		nd, err := x.noData(r)
		if err != nil {
			return nil, fmt.Errorf("nodata: %w", err)
		}
		out = append(out, nd)
	}
	return out, nil
}

// alert compiles the condition, its levels and recovery: one rule per
// severity. base carries what every one of them keeps.
func (x *exporter) alert(r *Rule, base rulefmt.Rule) ([]rulefmt.Rule, error) {
	c := r.Condition
	if c == nil {
		return []rulefmt.Rule{base}, nil
	}
	if r.KeepFiringFor > 0 && c.minPoints() > 1 {
		x.warn(r, fmt.Sprintf("a series that returns within keep_firing_for (%s) is not judged until its %s window fills again: meanwhile gatewarden leaves the alert as it is, Prometheus takes the condition as not holding, and the alert may end at another time", r.KeepFiringFor, c.Window))
	}
	levels := r.EffectiveLevels()
	if len(levels) > 0 && (r.For > 0 || r.KeepFiringFor > 0) {
		var what []string
		if r.For > 0 {
			what = append(what, "the new severity waits for "+r.For.String()+" again")
		}
		if r.KeepFiringFor > 0 {
			what = append(what, "the old one keeps firing for "+r.KeepFiringFor.String()+" beside it")
		}
		x.warn(r, fmt.Sprintf("each level is its own Prometheus alert: after a change of level %s; gatewarden switches at once", strings.Join(what, " and ")))
	}
	if len(levels) == 0 {
		levels = []Level{{Value: c.Value}} // severity 0: no severity label
	}
	hits := make([]string, len(levels))
	for i, l := range levels {
		f, err := c.PromQL(r.Expr, c.Floor(l.Value, c.Min), x.interval)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		hits[i] = "(" + f + ")"
	}
	latest, err := x.latest(r.Expr)
	if err != nil {
		return nil, err
	}
	var recovered string
	if rc := r.Recover; rc != nil {
		if recovered, err = rc.PromQL(r.Expr, rc.Value, x.interval); err != nil {
			return nil, fmt.Errorf("recover: %w", err)
		}
		if x.names[r.Alert] > 1 {
			x.warn(r, "recover: another rule has the same name, and its ALERTS series can keep this alert from recovering")
		}
	}
	var out []rulefmt.Rule
	for i, l := range levels {
		pr := base
		if l.Level != 0 {
			pr.Labels = withLabel(base.Labels, "severity", l.Level.String())
		}
		// The nodata form holds for absent series, which have no latest
		// value; its own value is the last one seen.
		expr := hits[i]
		if c.Func != FuncNoData {
			expr = latest + " and " + expr
		}
		for _, h := range hits[:i] { // the more severe levels
			expr += " unless " + h
		}
		if recovered != "" {
			expr = fmt.Sprintf("(%s) or (%s)", expr, x.hold(r, pr.Labels, l.Level, latest, recovered, slices.Delete(slices.Clone(hits), i, i+1)))
		}
		if pr.Expr, err = printed(expr); err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, nil
}

// hold is the hysteresis: the series of a firing alert that is present,
// where recovered does not hold and no other level does.
func (x *exporter) hold(r *Rule, ls map[string]string, sev Severity, latest, recovered string, others []string) string {
	// The alert's series carry the labels the rule and group add, which the
	// expression's do not, or with other values.
	ignored := map[string]bool{labels.AlertName: true, "alertstate": true}
	for k := range ls {
		ignored[k] = true
	}
	for k := range x.g.Labels {
		ignored[k] = true
	}
	var names []string
	for _, k := range slices.Sorted(maps.Keys(ignored)) {
		names = append(names, labelName(k))
	}
	sel := fmt.Sprintf(`ALERTS{alertname=%s, alertstate="firing", nodata=""`, strconv.Quote(r.Alert))
	if sev != 0 {
		sel += fmt.Sprintf(", severity=%q", sev.String())
	}
	s := fmt.Sprintf("(%s unless (%s)) and ignoring (%s) %s}", latest, recovered, strings.Join(names, ", "), sel)
	for _, o := range others {
		s += " unless " + o
	}
	return s
}

// noData is the extra rule of a nodata block: the nodata form over a
// window of the block's for.
func (x *exporter) noData(r *Rule) (rulefmt.Rule, error) {
	x.warn(r, fmt.Sprintf("nodata: Prometheus stops alerting for a vanished series %d×%s after its last point, gatewarden for a day",
		NoDataMemory, model.Duration(Window{Duration: time.Duration(r.NoData.For)}.Span(x.interval))))
	c := Condition{Func: FuncNoData, Window: Window{Duration: time.Duration(r.NoData.For)}}
	expr, err := c.PromQL(r.Expr, 0, x.interval)
	if err != nil {
		return rulefmt.Rule{}, err
	}
	ls := withLabel(r.Labels, "severity", r.NoData.SeverityLabel())
	ls["nodata"] = "true"
	return rulefmt.Rule{Alert: r.Alert, Expr: expr, Labels: ls, Annotations: maps.Clone(r.Annotations)}, nil
}

// steps compiles one rule per step. gatewarden fires a step at once, so
// for and keep_firing_for do not apply.
func (x *exporter) steps(r *Rule, base rulefmt.Rule) ([]rulefmt.Rule, error) {
	x.warn(r, "steps: Prometheus fires each step while the value is at or above it, not once per period; Alertmanager's repeat_interval governs re-notification")
	n, err := ParseExpr(r.Expr)
	if err != nil {
		return nil, err
	}
	if n.Type() != parser.ValueTypeVector {
		return nil, fmt.Errorf("steps: expression must return an instant vector, not a %s", n.Type())
	}
	base.For, base.KeepFiringFor = 0, 0
	var out []rulefmt.Rule
	for _, s := range r.Steps {
		pr := base
		v := strconv.FormatFloat(s, 'g', -1, 64)
		pr.Labels = withLabel(base.Labels, "step", v)
		if pr.Expr, err = printed(fmt.Sprintf("(%s) >= %s", n, v)); err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, nil
}

// latest is expr's value at the latest aligned step, the value gatewarden
// judged last.
func (x *exporter) latest(expr string) (string, error) {
	e, err := exportableExpr(expr)
	if err != nil {
		return "", err
	}
	f := promqlForm{e: e, i: x.interval}
	return fmt.Sprintf("last_over_time(%s)", f.subquery(e, x.interval, 0)), nil
}

// printed checks that an assembled expression parses and writes it as
// Prometheus prints it.
func printed(expr string) (string, error) {
	n, err := ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("exported expression %q does not parse: %w", expr, err)
	}
	for {
		p, ok := n.(*parser.ParenExpr)
		if !ok {
			return n.String(), nil
		}
		n = p.Expr
	}
}

// withLabel returns a copy of ls with name set to value.
func withLabel(ls map[string]string, name, value string) map[string]string {
	out := maps.Clone(ls)
	if out == nil {
		out = map[string]string{}
	}
	out[name] = value
	return out
}

// labelName writes a label name for a grouping clause, quoted when it is
// not a legacy name.
func labelName(n string) string {
	if model.LegacyValidation.IsValidLabelName(n) {
		return n
	}
	return strconv.Quote(n)
}

// WriteRuleGroups writes exported groups as a Prometheus rule file.
func WriteRuleGroups(w io.Writer, out *rulefmt.RuleGroups) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return enc.Close()
}
