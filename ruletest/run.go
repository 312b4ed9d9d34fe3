package ruletest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/promapi"
)

// Options tune a run.
type Options struct {
	// Run selects the test groups whose name it matches, as promtool's
	// --run does; nil runs them all.
	Run *regexp.Regexp
}

// Result is the outcome of one test file.
type Result struct {
	// Warnings do not fail the file.
	Warnings []string
	// Failures are unmet expectations, rule evaluation errors and problems
	// of the file itself, each worded as promtool words it.
	Failures []error
}

// Run runs the test files in order, reporting on out as promtool does, and
// tells whether every test passed.
func Run(ctx context.Context, out io.Writer, files []string, o Options) (passed bool) {
	passed = true
	for _, f := range files {
		fmt.Fprintf(out, "Unit Testing: %s\n", f)
		res := RunFile(ctx, f, o)
		for _, w := range res.Warnings {
			fmt.Fprintf(out, "  WARNING: %s\n", w)
		}
		if len(res.Failures) == 0 {
			fmt.Fprint(out, "  SUCCESS\n\n")
			continue
		}
		passed = false
		fmt.Fprintln(out, "  FAILED:")
		for _, e := range res.Failures {
			fmt.Fprintf(out, "%s\n\n", e)
		}
	}
	return passed
}

// RunFile runs the test groups of one file, each on a fresh store with
// fresh rule state.
func RunFile(ctx context.Context, name string, o Options) Result {
	f, warnings, err := load(name)
	res := Result{Warnings: warnings}
	if err != nil {
		res.Failures = []error{err}
		return res
	}
	for i := range f.Tests {
		tg := &f.Tests[i]
		if o.Run != nil && !o.Run.MatchString(tg.Name) {
			continue
		}
		for _, err := range f.run(ctx, tg) {
			if tg.Name != "" {
				err = fmt.Errorf("    name: %s,\n%w", tg.Name, err)
			}
			res.Failures = append(res.Failures, err)
		}
	}
	return res
}

// runner is one test group's store and evaluator.
type runner struct {
	tg       *testGroup
	db       *tsdb.DB
	m        *evaluator.Manager
	groups   []*evaluator.Group // in evaluation order
	start    time.Time
	interval time.Duration
	fed      int // input points appended so far
}

func (f *testFile) run(ctx context.Context, tg *testGroup) (errs []error) {
	dir, err := os.MkdirTemp("", "gatewarden-ruletest-")
	if err != nil {
		return []error{err}
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1 // nothing here outlives the test
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return []error{err}
	}
	defer func() {
		if err := db.Close(); err != nil {
			errs = append(errs, err)
		}
	}()
	// Compacting the head into blocks mid-test would only cost time.
	db.DisableCompactions()
	// The engine a running gatewarden uses, so queries behave the same.
	engine := promapi.NewEngine(nil, nil, 0, 0)
	r := &runner{
		tg: tg, db: db, start: tg.StartTimestamp.Time, interval: time.Duration(f.EvaluationInterval),
		m: evaluator.NewManager(evaluator.Options{Queryable: db, Appendable: db, Engine: engine, ExternalURL: tg.ExternalURL, ExpandEachEvaluation: true}),
	}
	if r.start.IsZero() {
		r.start = time.Unix(0, 0).UTC() // promtool's time 0; the head accepts it
	}
	cfg := &config.Config{
		RuleFiles: f.RuleFiles,
		Global:    config.GlobalConfig{EvaluationInterval: f.EvaluationInterval, ExternalLabels: tg.ExternalLabels},
	}
	if err := r.m.ApplyConfig(cfg); err != nil {
		return []error{err}
	}
	r.groups = ordered(r.m.Groups(), f.GroupEvalOrder)
	errs, stopped := r.evaluate(ctx)
	if stopped {
		return errs
	}
	for _, pt := range tg.PromQLTests {
		if err := r.checkPromQL(ctx, engine, pt); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// evaluate runs every group at each evaluation_interval step from 0 to the
// last eval_time, checking each alert_rule_test at the step it falls in. A
// rule evaluation error stops the test group: what follows would mislead.
func (r *runner) evaluate(ctx context.Context) (errs []error, stopped bool) {
	last := time.Duration(0)
	for _, t := range r.tg.AlertRuleTests {
		last = max(last, time.Duration(t.EvalTime))
	}
	for _, t := range r.tg.PromQLTests {
		last = max(last, time.Duration(t.EvalTime))
	}
	pending := slices.SortedStableFunc(slices.Values(r.tg.AlertRuleTests), func(a, b alertTest) int { return cmp.Compare(a.EvalTime, b.EvalTime) })
	for at := time.Duration(0); at <= last; at += r.interval {
		if err := r.feed(ctx, at); err != nil {
			return append(errs, err), true
		}
		for _, g := range r.groups {
			g.Eval(ctx, r.start.Add(at), r.m)
		}
		if ruleErrs := r.ruleErrors(at); len(ruleErrs) > 0 {
			return append(errs, ruleErrs...), true
		}
		for len(pending) > 0 && time.Duration(pending[0].EvalTime) < at+r.interval {
			if err := r.checkAlerts(pending[0]); err != nil {
				errs = append(errs, err)
			}
			pending = pending[1:]
		}
	}
	return errs, false
}

// feed appends the input up to at. Loading step by step, as promtool does,
// means an evaluation never reads samples from its future (a negative
// offset or @ end() would otherwise), as in a running gatewarden; it also
// keeps appends in time order, which the head enforces beyond an hour back.
func (r *runner) feed(ctx context.Context, at time.Duration) error {
	app := r.db.Appender(ctx)
	for ; r.fed < len(r.tg.points) && r.tg.points[r.fed].at <= at; r.fed++ {
		p := r.tg.points[r.fed]
		t := r.start.Add(p.at).UnixMilli()
		var err error
		if p.h != nil {
			_, err = app.AppendHistogram(0, p.labels, t, nil, p.h)
		} else {
			_, err = app.Append(0, p.labels, t, p.f)
		}
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("    input series: %s, time: %s, err: %w", p.labels, model.Duration(p.at), err)
		}
	}
	return app.Commit()
}

func (r *runner) ruleErrors(at time.Duration) []error {
	var errs []error
	for _, g := range r.groups {
		for _, rv := range g.Status().Rules {
			if rv.Status.Health == "err" {
				errs = append(errs, fmt.Errorf("    rule: %s, time: %s, err: %s", rv.Rule.Name(), model.Duration(at), rv.Status.LastError))
			}
		}
	}
	return errs
}

// ordered puts the groups named in group_eval_order first, in that order,
// and the others after them in file and name order.
func ordered(groups []*evaluator.Group, order []string) []*evaluator.Group {
	rank := func(g *evaluator.Group) int {
		if i := slices.Index(order, g.Status().Name); i >= 0 {
			return i
		}
		return len(order)
	}
	return slices.SortedStableFunc(slices.Values(groups), func(a, b *evaluator.Group) int { return cmp.Compare(rank(a), rank(b)) })
}
