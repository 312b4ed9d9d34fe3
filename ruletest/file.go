// Package ruletest runs rule unit tests written in promtool's format against
// gatewarden's own evaluator, so a passing test describes what a running
// gatewarden does, threshold extensions included: window conditions, levels
// and escalate, the observation window, recover, nodata and steps.
package ruletest

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/rules"
)

// defaultEvaluationInterval is promtool's, not gatewarden's 10 s, so that
// test files written for promtool keep their timing.
const defaultEvaluationInterval = time.Minute

// testFile is one unit-test file.
type testFile struct {
	RuleFiles          []string          `yaml:"rule_files"`
	EvaluationInterval yamlfile.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string          `yaml:"group_eval_order"`
	// FuzzyCompare is accepted for promtool's files; values are always
	// compared within a relative 1e-9, which is looser.
	FuzzyCompare bool        `yaml:"fuzzy_compare"`
	Tests        []testGroup `yaml:"tests"`
}

// testGroup is input data and the expectations on it; each runs on a fresh
// store and fresh rule state.
type testGroup struct {
	Name           string            `yaml:"name"`
	Interval       yamlfile.Duration `yaml:"interval"`
	StartTimestamp timestamp         `yaml:"start_timestamp"`
	InputSeries    []series          `yaml:"input_series"`
	AlertRuleTests []alertTest       `yaml:"alert_rule_test"`
	PromQLTests    []promqlTest      `yaml:"promql_expr_test"`
	ExternalLabels map[string]string `yaml:"external_labels"`
	ExternalURL    string            `yaml:"external_url"`

	points []point // the input, ordered by time, so it can be loaded step by step
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTest struct {
	EvalTime  yamlfile.Duration `yaml:"eval_time"`
	Alertname string            `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`
}

type promqlTest struct {
	Expr       string            `yaml:"expr"`
	EvalTime   yamlfile.Duration `yaml:"eval_time"`
	ExpSamples []struct {
		Labels    string  `yaml:"labels"`
		Value     float64 `yaml:"value"`
		Histogram string  `yaml:"histogram"` // set: Value is ignored
	} `yaml:"exp_samples"`

	exp []sample
}

// sample is one float or histogram of a series.
type sample struct {
	labels labels.Labels
	f      float64
	h      *histogram.FloatHistogram
}

// point is one input sample, at an offset from the test's start.
type point struct {
	sample
	at time.Duration
}

// timestamp is promtool's start_timestamp: Unix seconds or RFC 3339.
type timestamp struct{ time.Time }

func (t *timestamp) UnmarshalYAML(n *yaml.Node) error {
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, n.Value)
	if err != nil {
		return yamlfile.NodeError(n, "invalid start_timestamp %q: use Unix seconds or RFC 3339", n.Value)
	}
	t.Time = v
	return nil
}

var promqlParser = parser.NewParser(parser.Options{})

// load reads a test file and checks all of it before anything runs, so a
// typo is reported at its line rather than as a puzzling test failure.
// Rule file patterns matching nothing are warnings, as in promtool.
func load(name string) (*testFile, []string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	f := &testFile{}
	doc, err := yamlfile.Decode(b, name, f)
	if err != nil {
		return nil, nil, err
	}
	v := &validator{doc: doc}
	if len(f.RuleFiles) == 0 {
		// Without rule files the evaluator would load the built-in pack.
		v.at("rule_files: at least one rule file is required", "rule_files")
	}
	for i, p := range f.RuleFiles {
		if !filepath.IsAbs(p) {
			f.RuleFiles[i] = filepath.Join(filepath.Dir(name), p)
		}
		switch m, err := filepath.Glob(f.RuleFiles[i]); {
		case err != nil:
			v.at(fmt.Sprintf("rule_files: %q: %v", p, err), "rule_files", i)
		case len(m) == 0:
			v.warnings = append(v.warnings, "no file matches pattern "+f.RuleFiles[i])
		}
	}
	if len(v.errs)+len(v.pes) == 0 {
		loaded, err := evaluator.LoadRuleFiles(f.RuleFiles)
		if err != nil {
			return nil, v.warnings, err
		}
		v.file(f, loaded)
	}
	return f, v.warnings, v.result()
}

// validator collects every problem of a test file with its position.
type validator struct {
	doc      *yamlfile.Document
	pes      []yamlfile.PathError
	errs     yamlfile.Errors
	warnings []string
}

func (v *validator) at(msg string, path ...any) { v.pes = append(v.pes, yamlfile.At(msg, path...)) }

func (v *validator) result() error {
	errs := append(v.doc.Locate(v.pes), v.errs...)
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *yamlfile.Error) int { return cmp.Or(a.Line-b.Line, a.Column-b.Column) })
	return errs
}

// parseError points a PromQL parse error into the YAML string it came
// from; nodeAt maps a byte offset of the parsed text to a node and an
// offset within it.
func (v *validator) parseError(what string, err error, nodeAt func(pos int) (*yaml.Node, int)) {
	var pes parser.ParseErrors
	if !errors.As(err, &pes) {
		n, _ := nodeAt(0)
		v.errs = append(v.errs, v.doc.ErrorIn(n, -1, what+": "+err.Error()))
		return
	}
	for _, pe := range pes {
		n, off := nodeAt(int(pe.PositionRange.Start))
		v.errs = append(v.errs, v.doc.ErrorIn(n, off, what+": "+pe.Err.Error()))
	}
}

// in is nodeAt for text taken whole from the node at path, shifted by
// what was put before the text to parse it.
func (v *validator) in(path []any, shift int) func(int) (*yaml.Node, int) {
	return func(pos int) (*yaml.Node, int) { return v.doc.Node(path...), pos - shift }
}

// sub extends a path without sharing its backing array.
func sub(path []any, more ...any) []any { return append(slices.Clone(path), more...) }

func (v *validator) file(f *testFile, loaded map[string]*rules.Groups) {
	if f.EvaluationInterval == 0 {
		f.EvaluationInterval = yamlfile.Duration(defaultEvaluationInterval)
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, file := range slices.Sorted(maps.Keys(loaded)) {
		for _, g := range loaded[file].Groups {
			groups[g.Name] = true
			if g.Interval != 0 && g.Interval != f.EvaluationInterval {
				v.warnings = append(v.warnings, fmt.Sprintf("group %q has interval %s; as in promtool, every group is evaluated every evaluation_interval (%s)", g.Name, g.Interval, f.EvaluationInterval))
			}
			for _, r := range g.Rules {
				if r.IsAlert() {
					alerts[r.Alert] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, g := range f.GroupEvalOrder {
		switch {
		case seen[g]:
			v.at(fmt.Sprintf("group_eval_order: group %q is listed twice", g), "group_eval_order", i)
		case !groups[g]:
			v.at(fmt.Sprintf("group_eval_order: no rule group %q in rule_files", g), "group_eval_order", i)
		}
		seen[g] = true
	}
	for i := range f.Tests {
		tg := &f.Tests[i]
		if tg.Interval == 0 {
			tg.Interval = f.EvaluationInterval
		}
		for j, s := range tg.InputSeries {
			v.series(tg, s, "tests", i, "input_series", j)
		}
		slices.SortStableFunc(tg.points, func(a, b point) int { return cmp.Compare(a.at, b.at) })
		for j, at := range tg.AlertRuleTests {
			switch {
			case at.Alertname == "":
				v.at("alertname is required", "tests", i, "alert_rule_test", j)
			case !alerts[at.Alertname]:
				// promtool would pass a test expecting no alerts of a
				// misspelt rule; that hides the typo.
				v.at(fmt.Sprintf("no alerting rule %q in rule_files", at.Alertname), "tests", i, "alert_rule_test", j, "alertname")
			}
		}
		for j := range tg.PromQLTests {
			v.promqlTest(&tg.PromQLTests[j], "tests", i, "promql_expr_test", j)
		}
	}
}

// series expands one input series into points, a point every interval
// from the start, skipping `_`.
func (v *validator) series(tg *testGroup, s series, path ...any) {
	// The series and its values are parsed as one text; an error's offset
	// tells which of the two YAML strings it is in.
	ls, vals, err := promqlParser.ParseSeriesDesc(s.Series + " " + s.Values)
	if err != nil {
		v.parseError("input series", err, func(pos int) (*yaml.Node, int) {
			if pos <= len(s.Series) {
				return v.in(sub(path, "series"), 0)(pos)
			}
			return v.in(sub(path, "values"), len(s.Series)+1)(pos)
		})
		return
	}
	for k, sv := range vals {
		if !sv.Omitted {
			tg.points = append(tg.points, point{sample{ls, sv.Value, sv.Histogram}, time.Duration(k) * time.Duration(tg.Interval)})
		}
	}
}

func (v *validator) promqlTest(pt *promqlTest, path ...any) {
	if _, err := promqlParser.ParseExpr(pt.Expr); err != nil {
		v.parseError("expr", err, v.in(sub(path, "expr"), 0))
	}
	for k, es := range pt.ExpSamples {
		at := sub(path, "exp_samples", k)
		ls, err := promqlParser.ParseMetric(es.Labels)
		if err != nil {
			v.parseError("labels", err, v.in(sub(at, "labels"), 0))
			continue
		}
		s := sample{labels: ls, f: es.Value}
		if es.Histogram != "" {
			// A histogram is written as a one-value series of promtool's
			// notation; "{} " makes it one.
			_, hv, err := promqlParser.ParseSeriesDesc("{} " + es.Histogram)
			if err == nil && (len(hv) != 1 || hv[0].Histogram == nil) {
				err = fmt.Errorf("want one histogram such as {{schema:0 sum:5 count:4 buckets:[1 2 1]}}")
			}
			if err != nil {
				v.parseError("histogram", err, v.in(sub(at, "histogram"), len("{} ")))
				continue
			}
			s.h = hv[0].Histogram
		}
		pt.exp = append(pt.exp, s)
	}
}
