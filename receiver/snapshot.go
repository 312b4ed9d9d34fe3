package receiver

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// AlertView is a firing alert as the dispatcher holds it, for the read
// side of Alertmanager's API. Labels and annotations are shared with the
// dispatcher: both are replaced, never changed in place.
type AlertView struct {
	Fingerprint                 string
	Labels, Annotations         labels.Labels
	GeneratorURL                string
	StartsAt, EndsAt, UpdatedAt time.Time
	Receivers                   []string
	InhibitedBy                 []string
}

// GroupView is an aggregation group and its firing alerts' fingerprints.
type GroupView struct {
	Receiver string
	Labels   model.LabelSet
	// MutedBy names the time intervals muting the group's route now.
	MutedBy []string
	Alerts  []string
}

// Snapshot is what the dispatcher held at one moment.
type Snapshot struct {
	Now    time.Time
	Alerts map[string]*AlertView
	Groups []GroupView
}

// Snapshot asks Run for the firing alerts and their groups: only Run may
// read what it owns, so the request waits for its loop, bounded by ctx.
func (d *Dispatcher) Snapshot(ctx context.Context) (*Snapshot, error) {
	reply := make(chan *Snapshot, 1)
	select {
	case d.views <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// snapshot runs on Run's goroutine. Inhibition is decided afresh, as
// Alertmanager's API predicts it at query time, not as of the last flush.
func (d *Dispatcher) snapshot() *Snapshot {
	now := d.now()
	s := &Snapshot{Now: now, Alerts: map[string]*AlertView{}}
	p := d.currentPlan()
	if p == nil {
		return s
	}
	var idx inhibitIndex
	if len(p.Inhibit) > 0 {
		idx = d.buildInhibitIndex(p.Inhibit, now)
	}
	for fp, h := range d.alerts {
		if h.firing(now) {
			s.Alerts[fp] = d.view(p, idx, h)
		}
	}
	for _, g := range d.groups {
		if gv := groupView(p, g, s.Alerts, now); len(gv.Alerts) > 0 {
			s.Groups = append(s.Groups, gv)
		}
	}
	slices.SortFunc(s.Groups, func(a, b GroupView) int {
		return cmp.Or(cmp.Compare(a.Receiver, b.Receiver), cmp.Compare(a.Labels.String(), b.Labels.String()))
	})
	return s
}

func (d *Dispatcher) view(p *Plan, idx inhibitIndex, h *held) *AlertView {
	cur := h.eps[len(h.eps)-1]
	v := &AlertView{Fingerprint: h.fp, Labels: h.labels, Annotations: h.annotations, GeneratorURL: h.generatorURL,
		StartsAt: cur.start, EndsAt: cur.end, UpdatedAt: h.updated}
	for _, g := range h.in {
		v.Receivers = append(v.Receivers, g.receiver)
	}
	slices.Sort(v.Receivers)
	v.Receivers = slices.Compact(v.Receivers)
	if idx != nil {
		if src := idx.inhibitedBy(p.Inhibit, h.labelSet(), h.fp); src != "" {
			v.InhibitedBy = []string{src}
		}
	}
	return v
}

func groupView(p *Plan, g *group, firing map[string]*AlertView, now time.Time) GroupView {
	gv := GroupView{Receiver: g.receiver, Labels: g.labels}
	for fp := range g.alerts {
		if firing[fp] != nil {
			gv.Alerts = append(gv.Alerts, fp)
		}
	}
	slices.Sort(gv.Alerts)
	if p.MutedBy != nil {
		gv.MutedBy = p.MutedBy(g.timing, now)
	}
	return gv
}
