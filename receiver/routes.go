package receiver

import (
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/receiver/route"
)

// Tree routes with the route package's Alertmanager-compatible tree.
type Tree struct{ root *route.Route }

// NewTree wraps a built route tree.
func NewTree(root *route.Route) *Tree { return &Tree{root: root} }

// Match implements Router.
func (t *Tree) Match(ls model.LabelSet) []Route {
	rs := t.root.Match(ls)
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = treeRoute{r}
	}
	return out
}

type treeRoute struct{ r *route.Route }

func (t treeRoute) ID() string                                   { return t.r.ID() }
func (t treeRoute) Receiver() string                             { return t.r.Options.Receiver }
func (t treeRoute) GroupKey(ls model.LabelSet) string            { return t.r.GroupKey(ls) }
func (t treeRoute) GroupLabels(ls model.LabelSet) model.LabelSet { return t.r.GroupLabels(ls) }
func (t treeRoute) Timing() Timing {
	o := t.r.Options
	return Timing{GroupWait: o.GroupWait, GroupInterval: o.GroupInterval, RepeatInterval: o.RepeatInterval,
		Cooldown: o.Cooldown, MuteTimeIntervals: o.MuteTimeIntervals, ActiveTimeIntervals: o.ActiveTimeIntervals}
}
