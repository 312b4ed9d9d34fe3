package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Actions are the names a rule's action may take.
var Actions = map[string]bool{"throttle": true}

// promqlParser parses with the options Prometheus uses by default.
var promqlParser = parser.NewParser(parser.Options{})

// ParseExpr parses a rule's expression as the evaluator will.
func ParseExpr(expr string) (parser.Expr, error) { return promqlParser.ParseExpr(expr) }

func validate(doc *yamlfile.Document, gs *Groups) yamlfile.Errors {
	var (
		pes  []yamlfile.PathError
		errs yamlfile.Errors
	)
	seen := map[string]bool{}
	for gi := range gs.Groups {
		g := &gs.Groups[gi]
		at := func(p ...any) []any { return append([]any{"groups", gi}, p...) }
		switch {
		case g.Name == "":
			pes = append(pes, yamlfile.At("group name is required", at("name")...))
		case seen[g.Name]:
			pes = append(pes, yamlfile.At(fmt.Sprintf("group %q is defined more than once in this file", g.Name), at("name")...))
		}
		seen[g.Name] = true
		if g.Interval < 0 || g.Limit < 0 {
			pes = append(pes, yamlfile.At("interval and limit must not be negative", at()...))
		}
		pes = append(pes, checkLabels(g.Labels, at("labels"))...)
		for ri := range g.Rules {
			r := &g.Rules[ri]
			rat := func(p ...any) []any { return at(append([]any{"rules", ri}, p...)...) }
			pes = append(pes, r.validate(rat)...)
			if r.Expr != "" {
				if _, err := ParseExpr(r.Expr); err != nil {
					errs = append(errs, exprError(doc, doc.Node(rat("expr")...), err)...)
				}
			}
		}
	}
	errs = append(doc.Locate(pes), errs...)
	slices.SortStableFunc(errs, func(a, b *yamlfile.Error) int { return cmp.Or(a.Line-b.Line, a.Column-b.Column) })
	return errs
}

// exprError points each PromQL parse error into the expression text.
func exprError(doc *yamlfile.Document, node *yaml.Node, err error) yamlfile.Errors {
	var perrs parser.ParseErrors
	if !errors.As(err, &perrs) || node == nil {
		return yamlfile.Errors{{File: doc.File(), Msg: "expr: " + err.Error()}}
	}
	var out yamlfile.Errors
	for _, pe := range perrs {
		out = append(out, doc.ErrorIn(node, int(pe.PositionRange.Start), "expr: "+pe.Err.Error()))
	}
	return out
}

func (r *Rule) validate(at func(...any) []any) []yamlfile.PathError {
	var pes []yamlfile.PathError
	add := func(msg string, p ...any) { pes = append(pes, yamlfile.At(msg, at(p...)...)) }
	switch {
	case r.Record == "" && r.Alert == "":
		add("one of 'record' or 'alert' must be set")
	case r.Record != "" && r.Alert != "":
		add("only one of 'record' or 'alert' may be set", "record")
	}
	if r.Expr == "" {
		add("expr is required")
	}
	pes = append(pes, checkLabels(r.Labels, at("labels"))...)
	if r.Record != "" {
		if !model.UTF8Validation.IsValidMetricName(r.Record) {
			add(fmt.Sprintf("invalid recording rule name %q", r.Record), "record")
		}
		if r.For != 0 || r.KeepFiringFor != 0 || len(r.Annotations) > 0 || r.hasExtensions() {
			add("a recording rule takes only record, expr and labels", "record")
		}
		return pes
	}
	for k, v := range r.Annotations {
		if !model.UTF8Validation.IsValidLabelName(k) {
			add(fmt.Sprintf("invalid annotation name %q", k), "annotations")
		}
		if err := checkTemplate(r.Alert, v); err != nil {
			add(fmt.Sprintf("annotation %q: %v", k, err), "annotations", k)
		}
	}
	for k, v := range r.Labels {
		if err := checkTemplate(r.Alert, v); err != nil {
			add(fmt.Sprintf("label %q: %v", k, err), "labels", k)
		}
	}
	if r.For < 0 || r.KeepFiringFor < 0 {
		add("for and keep_firing_for must not be negative")
	}
	r.validateExtensions(add)
	return pes
}

func (r *Rule) hasExtensions() bool {
	return r.Condition != nil || len(r.Levels) > 0 || r.Escalate != 0 || r.Recover != nil || r.NoData != nil || len(r.Steps) > 0 || r.PeriodLabel != "" || r.Action != ""
}

func (r *Rule) validateExtensions(add func(string, ...any)) {
	if c := r.Condition; c != nil {
		checkCondition(c, add, "condition")
	}
	if len(r.Levels) > 0 || r.Escalate != 0 {
		if r.Condition == nil || r.Condition.Func == FuncNoData {
			add("levels and escalate need a condition to compare with", "levels")
		}
		if len(r.Levels) > 0 && r.Escalate != 0 {
			add("use either levels or escalate, not both", "escalate")
		}
		if r.Escalate < 0 || r.Escalate == 1 {
			add("escalate is the factor for critical and must be positive and not 1", "escalate")
		}
	}
	seen := map[Severity]bool{}
	for i, l := range r.Levels {
		if l.Level < Critical || l.Level > Info {
			add(fmt.Sprintf("level must be 1 (critical), 2 (warning) or 3 (info), not %d", l.Level), "levels", i, "level")
		}
		if seen[l.Level] {
			add(fmt.Sprintf("level %d is given twice", l.Level), "levels", i, "level")
		}
		seen[l.Level] = true
	}
	if c := r.Recover; c != nil {
		if r.Condition == nil {
			add("recover needs a condition to recover from", "recover")
		}
		if c.Func == FuncNoData {
			add("recover cannot be nodata", "recover", "function")
		}
		checkCondition(c, add, "recover")
	}
	if n := r.NoData; n != nil {
		if n.For <= 0 {
			add("nodata needs a positive for", "nodata", "for")
		}
		if n.Severity != "" && !slices.Contains([]string{"critical", "warning", "info"}, n.Severity) {
			add(fmt.Sprintf("nodata severity must be critical, warning or info, not %q", n.Severity), "nodata", "severity")
		}
	}
	if len(r.Steps) > 0 {
		if r.Condition != nil || len(r.Levels) > 0 || r.Escalate != 0 || r.Recover != nil {
			add("steps compare the latest value and take no condition, levels, escalate or recover", "steps")
		}
		for i := 1; i < len(r.Steps); i++ {
			if r.Steps[i] <= r.Steps[i-1] {
				add("steps must be in ascending order", "steps", i)
			}
		}
	}
	if r.PeriodLabel != "" && (len(r.Steps) == 0 || !model.UTF8Validation.IsValidLabelName(r.PeriodLabel)) {
		add("period_label must be a valid label name and goes with steps", "period_label")
	}
	if r.Action != "" && !Actions[r.Action] {
		add(fmt.Sprintf("unknown action %q", r.Action), "action")
	}
}

func checkCondition(c *Condition, add func(string, ...any), field string) {
	if c.Func == "" {
		add("function is required", field)
	}
	if c.Window.Points == 0 && c.Window.Duration == 0 {
		add("window is required: #N points or a duration", field)
	}
	if c.Op == "" && c.Func != FuncNoData {
		add("op is required", field)
	}
	if c.Func == FuncHappen && c.Count < 1 {
		add("happen needs count, at least 1", field, "count")
	}
	if c.Func != FuncHappen && c.Count != 0 {
		add("count goes with happen only", field, "count")
	}
	if c.Min < 0 || c.Min != 0 && c.Op != ">" && c.Op != ">=" {
		add("min is a floor under > and >= thresholds: it must be positive and goes with > or >= only", field, "min")
	}
}

func checkLabels(ls map[string]string, path []any) []yamlfile.PathError {
	var pes []yamlfile.PathError
	for k, v := range ls {
		if k == model.MetricNameLabel || !model.UTF8Validation.IsValidLabelName(k) {
			pes = append(pes, yamlfile.At(fmt.Sprintf("invalid label name %q", k), path...))
		}
		if !utf8.ValidString(v) {
			pes = append(pes, yamlfile.At(fmt.Sprintf("label %q: value is not valid UTF-8", k), path...))
		}
	}
	return pes
}
