// Package backtest evaluates gatewarden's rules over recorded data, step
// by step, with the daemon's own evaluator and throttle controller, and
// reports what they would have done: when each alert would have gone
// pending, fired and resolved, and which throttles the policy would have
// applied and released. A threshold can so be tuned against last week
// before it acts.
//
// Nothing is re-implemented: the rules are loaded as the daemon loads
// them and run by evaluator.Manager; the alerts go to a real
// throttle.Controller on a clock that follows the replayed time, with a
// gateway that records calls and always succeeds and a throwaway SQLite
// store. The recorded data is only read: what the evaluator writes
// (ALERTS, recording rules) goes to a scratch TSDB.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/internal/testclock"
	"github.com/gatewarden/gatewarden/promapi"
)

// Options say what to backtest over which data.
type Options struct {
	// Config supplies the rules (rule_files, or the built-in pack without
	// them), the evaluation interval, external labels and the throttle
	// section. Required.
	Config   *config.Config
	From, To time.Time
	// Step is the time between evaluations; default the config's
	// evaluation interval. Live, groups evaluate after each scrape, so the
	// scrape interval reproduces the daemon most closely.
	Step time.Duration
	// Rules names the alerting rules to backtest; empty means all.
	// Recording rules always run: alerting rules may read them.
	Rules []string
	// Sets change the named rules' conditions (Rules must name some).
	Sets []Set

	// The data: gatewarden's storage path (the TSDB in it is opened
	// read-only), or a running gatewarden's Prometheus API. Exactly one.
	StoragePath string
	API         API
	// SandboxRoot is where the read-only TSDB hard-links the head's chunk
	// files: on the storage path's file system. Default: the system's
	// temporary directory.
	SandboxRoot string

	Logger *slog.Logger
}

func (o *Options) check() error {
	switch {
	case o.Config == nil:
		return errors.New("backtest: no config")
	case !o.From.Before(o.To):
		return fmt.Errorf("backtest: --from (%s) must be before --to (%s)", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	case (o.StoragePath == "") == (o.API == nil):
		return errors.New("backtest: name the data: a storage path or a gatewarden URL, one of the two")
	case len(o.Sets) > 0 && len(o.Rules) == 0:
		return errors.New("backtest: --set needs --rule: name the rules whose condition it changes")
	}
	if o.Step == 0 {
		o.Step = time.Duration(o.Config.Global.EvaluationInterval)
	}
	if o.Step <= 0 {
		return errors.New("backtest: --step must be positive")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run evaluates the rules from From to To, every Step, and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "gatewarden-backtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	r, err := start(ctx, o, work)
	defer r.close()
	if err != nil {
		return nil, err
	}
	if err := r.replay(ctx); err != nil {
		return nil, err
	}
	if r.th != nil {
		if err := r.th.report(ctx, r.rep); err != nil {
			return nil, err
		}
	}
	r.rep.finish()
	return r.rep, nil
}

// run is one backtest: the evaluator and throttle over the data, on the
// replayed clock, and what they did.
type run struct {
	o      Options
	m      *evaluator.Manager
	th     *throttleSim
	clock  *testclock.Clock
	rep    *Report
	closer []func() error
	// active are the pending and firing alerts after the last step.
	active map[uint64]evaluator.Alert
}

// start loads the rules, opens the data and the scratch store, and wires
// the evaluator to the throttle as the daemon does. The run is to be
// closed even when start fails.
func start(ctx context.Context, o Options, work string) (*run, error) {
	r := &run{o: o, clock: testclock.New(o.From)}
	rs, err := prepareRules(o.Config, o.Rules, o.Sets, filepath.Join(work, "rules"))
	if err != nil {
		return r, err
	}
	r.rep = newReport(o, rs.alerting)
	src, err := openData(ctx, o, rs, work)
	if err != nil {
		return r, err
	}
	r.closer = append(r.closer, src.close)
	scratch, err := openScratch(filepath.Join(work, "scratch"))
	if err != nil {
		return r, err
	}
	r.closer = append(r.closer, scratch.Close)
	engine := promapi.NewEngine(nil, nil, 0, 0) // the daemon's, so queries behave the same
	data := view{src: src.q, scratch: scratch, own: rs.own, cut: o.From.UnixMilli()}
	if o.Config.Throttle != nil {
		if r.th, err = startThrottle(ctx, o.Config.Throttle, engine, data, r.clock, filepath.Join(work, "store"), o.Logger); err != nil {
			return r, err
		}
		r.closer = append(r.closer, r.th.close)
	}
	cfg := *o.Config
	cfg.RuleFiles = rs.files
	r.m = evaluator.NewManager(evaluator.Options{
		Queryable: data, Appendable: scratch, Engine: engine, Now: r.clock.Now, Logger: o.Logger, Notify: r.notify,
	})
	if err := r.m.ApplyConfig(&cfg); err != nil {
		return r, fmt.Errorf("backtest: loading the rules: %w", err)
	}
	return r, nil
}

// close releases what start opened, the last first.
func (r *run) close() {
	for i := len(r.closer) - 1; i >= 0; i-- {
		_ = r.closer[i]()
	}
}

// notify is the evaluator's Notify hook: the throttle observes the
// alerts of each evaluation, as in the daemon.
func (r *run) notify(ctx context.Context, alerts []*evaluator.Alert) {
	if r.th != nil {
		r.th.observe(ctx, alerts)
	}
}

// replay evaluates at every step from From to To. After each step the
// throttle's queued work is done and it ticks at the step's time, so its
// decisions see the clock and the samples of that step.
func (r *run) replay(ctx context.Context) error {
	rp := evaluator.NewReplay(r.m)
	for ts := r.o.From; !ts.After(r.o.To); ts = r.clock.Advance(r.o.Step) {
		if err := ctx.Err(); err != nil {
			return err
		}
		rp.EvalAt(ctx, ts)
		r.rep.alertChanges(ts, r.m.Groups(), &r.active)
		if r.th != nil {
			if err := r.th.step(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// openScratch is a TSDB for what the evaluator writes: no WAL, nothing
// here outlives the run.
func openScratch(dir string) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("backtest: scratch store: %w", err)
	}
	db.DisableCompactions()
	return db, nil
}
