package throttle

import (
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/rules"
)

// detector is the built-in PluginCPUHigh rule's firing and recovery
// (all over #3 > 0.8; recover all over #3 < 0.7), judged by the rules
// package itself, sending like the evaluator: on firing, on resolution,
// and a re-send every minute.
type detector struct {
	cond, recover rules.Condition
	points        map[Instance][]rules.Point
	firing        map[Instance]time.Time // last sent
	// keep, when set, is the rule's keep_firing_for: the alert resolves
	// only after recovery held that long, as the evaluator resolves it.
	keep       time.Duration
	clearSince map[Instance]time.Time
}

func newDetector(t testing.TB) *detector {
	gs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.Groups {
		for _, r := range g.Rules {
			if r.Alert == config.DefaultThrottleRule {
				return &detector{cond: *r.Condition, recover: *r.Recover, points: map[Instance][]rules.Point{}, firing: map[Instance]time.Time{},
					keep: time.Duration(r.KeepFiringFor), clearSince: map[Instance]time.Time{}}
			}
		}
	}
	t.Fatal("no built-in PluginCPUHigh rule")
	return nil
}

func (d *detector) eval(cpu map[Instance]float64, now time.Time) []Event {
	var out []Event
	ts := now.UnixMilli()
	for _, inst := range sortedInstances(cpu) {
		v := cpu[inst]
		pts := append(d.points[inst], rules.Point{T: ts, V: v})
		if len(pts) > 3 {
			pts = pts[len(pts)-3:]
		}
		d.points[inst] = pts
		last, firing := d.firing[inst]
		if hold, judged := d.cond.Judge(pts, ts, d.cond.Value); judged && hold {
			delete(d.clearSince, inst)
			if !firing || now.Sub(last) >= time.Minute {
				d.firing[inst] = now
				out = append(out, Event{Rule: config.DefaultThrottleRule, Instance: inst, Firing: true, Value: v, At: now})
			}
			continue
		}
		rec, judged := d.recover.Judge(pts, ts, d.recover.Value)
		if firing && judged && rec && d.keep > 0 {
			if _, ok := d.clearSince[inst]; !ok {
				d.clearSince[inst] = now
			}
			rec = now.Sub(d.clearSince[inst]) >= d.keep
		}
		if firing && judged && rec {
			delete(d.firing, inst)
			delete(d.clearSince, inst)
			out = append(out, Event{Rule: config.DefaultThrottleRule, Instance: inst, Value: v, At: now})
		} else if firing && now.Sub(last) >= time.Minute {
			d.firing[inst] = now
			out = append(out, Event{Rule: config.DefaultThrottleRule, Instance: inst, Firing: true, Value: v, At: now})
		}
	}
	return out
}

// metric sums the samples of a family whose labels include the pairs;
// for a histogram, its sample count.
func (h *harness) metric(name string, pairs ...string) float64 {
	h.t.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(pairs); i += 2 {
				if labelValue(m, pairs[i]) != pairs[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func sortedInstances(m map[Instance]float64) []Instance {
	out := make([]Instance, 0, len(m))
	for inst := range m {
		out = append(out, inst)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.String(), b.String()) })
	return out
}
