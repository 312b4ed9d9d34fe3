package backtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/throttle"
)

// Report is what a backtest found, in time order.
type Report struct {
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Step  time.Duration `json:"-"`
	Rules []string      `json:"rules"` // the alerting rules evaluated
	// Alerts are the state changes of every alert: pending, firing,
	// resolved (after firing) and inactive (pending that never fired).
	Alerts []AlertEvent `json:"alerts"`
	// Throttles are the throttle controller's decisions and operations,
	// when the config has a throttle section.
	Throttles    []ThrottleEvent `json:"throttles,omitempty"`
	GatewayCalls []GatewayCall   `json:"gateway_calls,omitempty"`
	// Errors are rule evaluation errors, each with when it first happened
	// and how often.
	Errors []RuleError `json:"errors,omitempty"`
}

// AlertEvent is one alert changing state at one evaluation.
type AlertEvent struct {
	Time     time.Time         `json:"time"`
	Rule     string            `json:"rule"`
	Labels   map[string]string `json:"labels"` // the alert's identity, but for alertname
	State    string            `json:"state"`
	Severity string            `json:"severity,omitempty"`
	Value    float64           `json:"value"`
	// Threshold is what the value was judged against; nil for a rule
	// whose threshold is in its expression.
	Threshold *float64 `json:"threshold,omitempty"`

	ls labels.Labels
}

// ThrottleEvent is one throttle decision or operation, from the
// controller's audit trail (docs/throttle.md#audit).
type ThrottleEvent struct {
	Time time.Time `json:"time"`
	throttle.Instance
	Action         string  `json:"action"` // decide, apply, step, renew, release, expire, escalate, clear
	Result         string  `json:"result"`
	MaxConcurrency int     `json:"max_concurrency,omitempty"`
	Previous       int     `json:"previous_max_concurrency,omitempty"`
	DryRun         bool    `json:"dry_run,omitempty"`
	CPU            float64 `json:"cpu,omitempty"`
	Reason         string  `json:"reason,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// RuleError is a rule's evaluation error.
type RuleError struct {
	Rule  string    `json:"rule"`
	First time.Time `json:"first"`
	Count int       `json:"count"`
	Error string    `json:"error"`
}

func newReport(o Options, alerting []string) *Report {
	return &Report{From: o.From.UTC(), To: o.To.UTC(), Step: o.Step, Rules: alerting, Alerts: []AlertEvent{}}
}

// alertChanges compares the groups' pending and firing alerts with the
// last step's and records what changed.
func (r *Report) alertChanges(ts time.Time, groups []*evaluator.Group, last *map[uint64]evaluator.Alert) {
	now := map[uint64]evaluator.Alert{}
	for _, g := range groups {
		for _, rv := range g.Status().Rules {
			if rv.Status.Health == "err" && rv.Status.LastEval.Equal(ts) {
				r.ruleError(rv.Rule.Name(), ts, rv.Status.LastError)
			}
			for _, a := range rv.Alerts {
				now[a.Labels.Hash()] = a
			}
		}
	}
	for h, a := range now {
		if old, ok := (*last)[h]; !ok || old.State != a.State {
			r.alert(ts, a, a.State.String())
		}
	}
	for h, old := range *last {
		if _, ok := now[h]; !ok {
			state := "resolved"
			if old.State == evaluator.StatePending {
				state = "inactive"
			}
			r.alert(ts, old, state)
		}
	}
	*last = now
}

func (r *Report) alert(ts time.Time, a evaluator.Alert, state string) {
	ev := AlertEvent{Time: ts.UTC(), Rule: a.Labels.Get(labels.AlertName), State: state, Value: a.Value,
		Severity: a.Labels.Get("severity"), ls: labels.NewBuilder(a.Labels).Del(labels.AlertName).Labels()}
	if a.Severity > 0 {
		ev.Severity = a.Severity.String()
	}
	if !math.IsNaN(a.Threshold) {
		ev.Threshold = &a.Threshold
	}
	ev.Labels = ev.ls.Map()
	r.Alerts = append(r.Alerts, ev)
}

func (r *Report) ruleError(rule string, ts time.Time, msg string) {
	for i := range r.Errors {
		if e := &r.Errors[i]; e.Rule == rule && e.Error == msg {
			e.Count++
			return
		}
	}
	r.Errors = append(r.Errors, RuleError{Rule: rule, First: ts.UTC(), Count: 1, Error: msg})
}

var stateOrder = map[string]int{"resolved": 0, "inactive": 0, "pending": 1, "firing": 2}

// finish orders the alert events: by time, rule and labels, a
// resolution before what fires at the same time.
func (r *Report) finish() {
	slices.SortStableFunc(r.Alerts, func(a, b AlertEvent) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Rule, b.Rule), labels.Compare(a.ls, b.ls), cmp.Compare(stateOrder[a.State], stateOrder[b.State]))
	})
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		*Report
		Step string `json:"step"`
	}{r, r.Step.String()})
}

// WriteText writes the report for people: one line per event, alerts and
// throttles merged in time order, then a summary.
func (r *Report) WriteText(w io.Writer) error {
	what := strings.Join(r.Rules, ", ")
	if len(r.Rules) > 3 {
		what = fmt.Sprintf("%d rules", len(r.Rules))
	}
	fmt.Fprintf(w, "Backtest of %s from %s to %s every %s\n\n", what, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.Step)
	type line struct {
		t                  time.Time
		event, what, extra string
	}
	var lines []line
	for _, a := range r.Alerts {
		lines = append(lines, line{a.Time, a.State, a.Rule + a.ls.String(), a.detail()})
	}
	for _, e := range r.Throttles {
		lines = append(lines, line{e.Time, "throttle", e.Instance.String(), e.Describe()})
	}
	// Stable: at one time, the alerts (the evaluation) come before what
	// the throttle did with them.
	slices.SortStableFunc(lines, func(a, b line) int { return a.t.Compare(b.t) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tALERT / INSTANCE\tDETAIL")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.t.Format(time.RFC3339), l.event, l.what, l.extra)
	}
	if len(lines) == 0 {
		fmt.Fprintln(tw, "(nothing would have fired)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	r.writeSummary(w)
	return nil
}

// detail is the value and threshold; the severity is among the labels.
func (a AlertEvent) detail() string {
	d := "value " + fmtFloat(a.Value)
	if a.Threshold != nil {
		d += " (threshold " + fmtFloat(*a.Threshold) + ")"
	}
	return d
}

// Describe says what the controller did, in words.
func (e ThrottleEvent) Describe() string {
	limits := fmt.Sprintf("max_concurrency %d", e.MaxConcurrency)
	if e.Previous > 0 {
		limits = fmt.Sprintf("max_concurrency %d → %d", e.Previous, e.MaxConcurrency)
	}
	cpu := ""
	if e.CPU > 0 {
		cpu = fmt.Sprintf(", CPU %s", fmtFloat(e.CPU))
	}
	switch k := e.Action + "/" + e.Result; {
	case k == "decide/throttle":
		return "decided: throttle, " + limits + cpu
	case k == "decide/dry_run" && e.Error != "":
		return "dry run: would not throttle: " + e.Error + cpu
	case k == "decide/dry_run":
		return "dry run: would throttle, " + limits + cpu + "; nothing called"
	case k == "decide/exempt", k == "decide/already_limited":
		return "alert only: " + strings.ReplaceAll(e.Result, "_", " ") + cpu
	case k == "decide/blast_radius":
		return "alert only: blast radius (" + e.Reason + ")" + cpu
	case e.Action == "clear":
		return "anomaly resolved (was " + strings.ReplaceAll(e.Result, "_", " ") + ")"
	case e.Result == "failed":
		return e.Action + " failed: " + e.Error
	case e.Action == "apply":
		return fmt.Sprintf("applied max_concurrency %d", e.MaxConcurrency)
	case e.Action == "step":
		return fmt.Sprintf("stepped down to max_concurrency %d", e.MaxConcurrency)
	case e.Action == "renew":
		return fmt.Sprintf("renewed max_concurrency %d", e.MaxConcurrency)
	case e.Action == "release":
		return fmt.Sprintf("released: max_concurrency %d restored", e.MaxConcurrency)
	case e.Action == "expire":
		return "expired at the gateway (TTL)"
	case e.Action == "escalate":
		return "manual handling: " + e.Reason
	}
	return e.Action + " " + e.Result
}

// writeSummary counts what fired per rule and what the throttle did.
func (r *Report) writeSummary(w io.Writer) {
	fmt.Fprintln(w, "Summary:")
	for _, rule := range r.Rules {
		fired, resolved := 0, 0
		for _, a := range r.Alerts {
			if a.Rule == rule {
				fired += b2i(a.State == "firing")
				resolved += b2i(a.State == "resolved")
			}
		}
		fmt.Fprintf(w, "  %s: fired %d, resolved %d\n", rule, fired, resolved)
	}
	if len(r.Throttles) > 0 || len(r.GatewayCalls) > 0 {
		n := map[string]int{}
		for _, e := range r.Throttles {
			n[e.Action+"/"+e.Result]++
		}
		fmt.Fprintf(w, "  throttle: %d applied, %d stepped, %d released, %d expired, %d dry run, %d alert only, %d failed\n",
			n["apply/ok"], n["step/ok"], n["release/ok"], n["expire/released"], n["decide/dry_run"],
			n["decide/exempt"]+n["decide/blast_radius"]+n["decide/already_limited"], n["decide/failed"]+n["apply/failed"])
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s: %s (%d evaluations from %s)\n", e.Rule, e.Error, e.Count, e.First.Format(time.RFC3339))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fmtFloat(f float64) string { return fmt.Sprintf("%.4g", f) }
