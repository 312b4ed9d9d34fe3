package evaluator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/rules"
)

// Group evaluates its rules in order, every interval and right after a
// scrape brings the metrics they read.
type Group struct {
	name, file  string
	interval    time.Duration
	queryOffset time.Duration
	limit       int
	labels      map[string]string
	rules       []*rules.Rule
	plans       []plan          // how each rule is queried
	alerting    []*alertingRule // nil at recording rules
	metrics     map[string]bool // metric names the rules read
	anyMetric   bool            // a selector without a fixed name: any scrape may matter
	trigger     chan time.Time

	// evalMtx is held for a whole evaluation and by what reads or takes
	// over the rules' state (the snapshot, a reload).
	evalMtx sync.Mutex

	mtx        sync.Mutex // guards what the API and /metrics read
	lastEval   time.Time
	lastTook   time.Duration
	ruleStatus []RuleStatus
	// active are copies of each rule's pending and firing alerts as the
	// last evaluation left them: readers never wait for an evaluation,
	// which with thousands of rules over 100k series takes seconds.
	active     [][]Alert
	prevAlerts map[uint64]labels.Labels // ALERTS series written last time
	// prevRecorded are each recording rule's series of the last evaluation.
	prevRecorded map[int]map[uint64]labels.Labels
}

// RuleStatus is a rule's health as of its group's last evaluation.
type RuleStatus struct {
	Health    string // ok, err, unknown
	LastError string
	LastEval  time.Time
	Took      time.Duration
}

// Key identifies the group across reloads, as Prometheus's file;name.
func (g *Group) Key() string { return g.file + ";" + g.name }

// Name and File say where the group was read, without its status.
func (g *Group) Name() string { return g.name }
func (g *Group) File() string { return g.file }

func newGroup(file string, rg *rules.Group, defInterval time.Duration) *Group {
	g := &Group{
		name: rg.Name, file: file, interval: time.Duration(rg.Interval), limit: rg.Limit, labels: rg.Labels,
		metrics: map[string]bool{}, trigger: make(chan time.Time, 1), prevAlerts: map[uint64]labels.Labels{},
		prevRecorded: map[int]map[uint64]labels.Labels{},
	}
	if g.interval == 0 {
		g.interval = defInterval
	}
	if rg.QueryOffset != nil {
		g.queryOffset = time.Duration(*rg.QueryOffset)
	}
	for i := range rg.Rules {
		r := &rg.Rules[i]
		g.rules = append(g.rules, r)
		g.plans = append(g.plans, planOf(r))
		var ar *alertingRule
		if r.IsAlert() {
			ar = newAlertingRule(r, g.interval)
		}
		g.alerting = append(g.alerting, ar)
		g.readMetrics(r.Expr)
	}
	for i, ar := range g.alerting {
		if ar != nil {
			ar.id = ruleID(g, i)
		}
	}
	g.ruleStatus = make([]RuleStatus, len(g.rules))
	for i := range g.ruleStatus {
		g.ruleStatus[i].Health = "unknown"
	}
	return g
}

// readMetrics records which metric names the expression selects, so only
// scrapes carrying them trigger the group.
func (g *Group) readMetrics(expr string) {
	e, err := rules.ParseExpr(expr)
	if err != nil {
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := ""
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			g.anyMetric = true
		} else {
			g.metrics[name] = true
		}
		return nil
	})
}

func (g *Group) reads(metrics []string) bool {
	if g.anyMetric {
		return true
	}
	for _, m := range metrics {
		if g.metrics[m] {
			return true
		}
	}
	return false
}

// evaluation is the manager's side of one group evaluation.
type evaluation interface {
	query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error)
	appender(ctx context.Context) storage.Appender
	env(g *Group) *env
	resendDelay() time.Duration
	notify(ctx context.Context, alerts []*Alert)
	observe(g *Group, took time.Duration, failures int)
}

// Eval evaluates every rule of the group at ts. An expression several rules
// share is queried once (see queryCache): the common gateway case is many
// thresholds over a few expressions.
func (g *Group) Eval(ctx context.Context, ts time.Time, ev evaluation) {
	g.evalMtx.Lock()
	defer g.evalMtx.Unlock()
	start := time.Now()
	e := ev.env(g)
	// Output carries the timestamp the data was queried at, so recorded
	// series and ALERTS line up with their inputs under a query offset.
	qts := ts.Add(-g.queryOffset)
	var send []*Alert
	statuses := make([]RuleStatus, len(g.rules))
	failures := 0
	for i, r := range g.rules {
		if ctx.Err() != nil {
			// Stopping: the rules left keep their state and status, and
			// what the evaluated ones changed is still written and sent.
			g.keepStatuses(statuses[i:], i)
			break
		}
		rstart := time.Now()
		vec, err := ev.query(ctx, g.plans[i].expr, qts)
		vec = g.plans[i].apply(vec)
		switch {
		case err != nil:
		case r.IsAlert():
			var out []*Alert
			out, err = g.alerting[i].eval(ctx, ts, vec, e, ev.resendDelay())
			if lerr := g.checkLimit(g.alerting[i]); lerr != nil {
				out, err = nil, lerr
			}
			send = append(send, out...)
		default:
			err = g.record(ctx, ev, i, vec, qts)
		}
		statuses[i] = RuleStatus{Health: "ok", LastEval: ts, Took: time.Since(rstart)}
		if err != nil {
			failures++
			statuses[i].Health, statuses[i].LastError = "err", err.Error()
		}
	}
	app := ev.appender(ctx)
	g.writeAlerts(app, qts)
	if err := app.Commit(); err != nil {
		failures++
	}
	if len(send) > 0 {
		// Their state says they were sent: a stop must not lose them.
		ev.notify(context.WithoutCancel(ctx), send)
	}
	took := time.Since(start)
	g.mtx.Lock()
	g.lastEval, g.lastTook, g.ruleStatus = ts, took, statuses
	g.mtx.Unlock()
	g.publish()
	ev.observe(g, took, failures)
}

// keepStatuses fills statuses, the rules from the i-th on, with their last
// ones.
func (g *Group) keepStatuses(statuses []RuleStatus, i int) {
	g.mtx.Lock()
	defer g.mtx.Unlock()
	if len(g.ruleStatus) >= i+len(statuses) {
		copy(statuses, g.ruleStatus[i:])
	}
}

// publish copies the rules' active alerts for readers; the caller holds
// evalMtx, or the group is not running yet.
func (g *Group) publish() {
	active := make([][]Alert, len(g.rules))
	var scratch []*Alert // one buffer for every rule's pointers
	for i, ar := range g.alerting {
		if ar == nil {
			continue
		}
		if scratch = ar.active(scratch[:0]); len(scratch) == 0 {
			continue
		}
		copies := make([]Alert, len(scratch))
		for j, a := range scratch {
			copies[j] = *a
		}
		active[i] = copies
	}
	g.mtx.Lock()
	g.active = active
	g.mtx.Unlock()
}

// checkLimit enforces the group's limit as Prometheus does: a rule with
// more alerts than the limit has none, and sends none.
func (g *Group) checkLimit(ar *alertingRule) error {
	if g.limit <= 0 {
		return nil
	}
	if n := len(ar.active(nil)); n > g.limit {
		for _, t := range ar.targets {
			t.Alert, t.NoData, t.StepAlerts = nil, nil, nil
		}
		return fmt.Errorf("exceeded limit of %d with %d alerts", g.limit, n)
	}
	return nil
}

var errDuplicate = errors.New("vector contains metrics with the same labelset after applying rule labels")

// record writes a recording rule's result under its new name in a
// transaction of its own, so the next rule of the group reads it, and
// marks stale the series it no longer produces, as Prometheus does.
func (g *Group) record(ctx context.Context, ev evaluation, i int, vec promql.Vector, ts time.Time) error {
	r := g.rules[i]
	cur := make(map[uint64]labels.Labels, len(vec))
	app := ev.appender(ctx)
	for _, s := range vec {
		lb := labels.NewBuilder(s.Metric).Set(labels.MetricName, r.Record)
		for k, v := range g.labels {
			lb.Set(k, v)
		}
		for k, v := range r.Labels {
			lb.Set(k, v)
		}
		ls := lb.Labels()
		h := ls.Hash()
		if _, dup := cur[h]; dup {
			_ = app.Rollback()
			return errDuplicate
		}
		cur[h] = ls
		if g.limit > 0 && len(cur) > g.limit {
			_ = app.Rollback()
			return fmt.Errorf("exceeded limit of %d with %d series", g.limit, len(vec))
		}
		if _, err := app.Append(0, ls, ts.UnixMilli(), s.F); err != nil && !errors.Is(err, storage.ErrOutOfOrderSample) && !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
			_ = app.Rollback()
			return err
		}
	}
	for h, ls := range g.prevRecorded[i] {
		if _, ok := cur[h]; !ok {
			_, _ = app.Append(0, ls, ts.UnixMilli(), staleNaN)
		}
	}
	g.prevRecorded[i] = cur
	return app.Commit()
}

// GroupStatus is a group as the API and console show it.
type GroupStatus struct {
	Name, File string
	Interval   time.Duration
	Limit      int
	LastEval   time.Time
	Took       time.Duration
	Rules      []RuleView
}

// RuleView is one rule with its health and active alerts (copies).
type RuleView struct {
	Rule   *rules.Rule
	Status RuleStatus
	Alerts []Alert
}

// Status returns the group's state as of its last evaluation.
func (g *Group) Status() GroupStatus {
	g.mtx.Lock()
	defer g.mtx.Unlock()
	st := GroupStatus{Name: g.name, File: g.file, Interval: g.interval, Limit: g.limit, LastEval: g.lastEval, Took: g.lastTook}
	for i, r := range g.rules {
		v := RuleView{Rule: r, Status: g.ruleStatus[i]}
		if i < len(g.active) {
			v.Alerts = slices.Clone(g.active[i])
		}
		st.Rules = append(st.Rules, v)
	}
	return st
}

// ActiveAlerts returns copies of the group's pending and firing alerts as
// of its last evaluation.
func (g *Group) ActiveAlerts() []Alert {
	g.mtx.Lock()
	defer g.mtx.Unlock()
	var out []Alert
	for _, as := range g.active {
		out = append(out, as...)
	}
	return out
}

// alerts returns the group's pending and firing alerts; the caller holds
// evalMtx.
func (g *Group) alerts() []*Alert {
	var out []*Alert
	for _, ar := range g.alerting {
		if ar != nil {
			out = ar.active(out)
		}
	}
	return out
}

// active appends the rule's pending and firing alerts to out.
func (ar *alertingRule) active(out []*Alert) []*Alert {
	for _, t := range ar.targets {
		out = t.each(out, func(a *Alert) bool { return !a.Resolved() })
	}
	return out
}
