// Package route is the receiver's route tree with Alertmanager's semantics:
// the same matching, the same inheritance of options, and the same route
// and aggregation-group keys as Alertmanager v0.34's dispatch package, so a
// route tree pasted from alertmanager.yml sends every alert where
// Alertmanager would, and group keys agree with what Alertmanager puts in
// its notifications.
package route

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
)

// wildcard in group_by groups by every label.
const wildcard = "..."

// Options are a route's resolved settings: its own where it sets them, its
// parent's where it does not. The maps and slices are shared with other
// routes of the tree and must not be modified.
type Options struct {
	Receiver string
	// GroupBy holds the labels alerts are grouped by, unless GroupByAll.
	GroupBy    map[model.LabelName]struct{}
	GroupByAll bool

	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration

	// The time intervals are the route's own: Alertmanager does not pass
	// them on to child routes.
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string

	// Cooldown is gatewarden's quiet time after a notification, inherited
	// like the timings; 0 means none.
	Cooldown time.Duration
}

// Route is one node of the tree. It does not change once New returns it,
// so any number of goroutines may route through it.
type Route struct {
	parent *Route

	Options Options
	// Matchers an alert must satisfy, in Alertmanager's order: match,
	// match_re and matchers merged and sorted.
	Matchers labels.Matchers
	// Continue lets an alert matching this route go on to its siblings.
	Continue bool
	Routes   []*Route
	// Idx numbers the routes of a tree in post-order (children first), as
	// Alertmanager's dispatcher does to index its per-route group maps.
	Idx int

	// key and id never change after New, and Alertmanager rebuilds them
	// from the parents on every call; computing them once keeps them off
	// the path of every alert.
	key, id string
}

// New builds the tree from the root route of a loaded config. cooldown is
// the receiver's default (ReceiverConfig.Cooldown), which routes that set
// none inherit. Timings the root leaves unset take Alertmanager's defaults,
// as a config that did not come through config.Load may.
func New(root *config.Route, cooldown time.Duration) (*Route, error) {
	if root == nil {
		return nil, errors.New("route: no root route")
	}
	if root.Receiver == "" {
		return nil, errors.New("route: root route must specify a default receiver")
	}
	defaults := Options{
		GroupBy:        map[model.LabelName]struct{}{},
		GroupWait:      config.DefaultGroupWait,
		GroupInterval:  config.DefaultGroupInterval,
		RepeatInterval: config.DefaultRepeatInterval,
		Cooldown:       cooldown,
	}
	counter := 0
	return build(root, nil, defaults, "route", &counter)
}

func build(cr *config.Route, parent *Route, opts Options, where string, counter *int) (*Route, error) {
	if cr == nil {
		return nil, fmt.Errorf("%s: empty route", where)
	}
	if cr.Receiver != "" {
		opts.Receiver = cr.Receiver
	}
	// As Alertmanager: an explicit list replaces the parent's, even an
	// empty one; "..." alone keeps the parent's list but groups by all.
	if cr.GroupBy != nil {
		if slices.Contains(cr.GroupBy, wildcard) {
			opts.GroupByAll = true
		} else {
			opts.GroupBy = make(map[model.LabelName]struct{}, len(cr.GroupBy))
			for _, ln := range cr.GroupBy {
				opts.GroupBy[model.LabelName(ln)] = struct{}{}
			}
			opts.GroupByAll = false
		}
	}
	set(&opts.GroupWait, cr.GroupWait)
	set(&opts.GroupInterval, cr.GroupInterval)
	set(&opts.RepeatInterval, cr.RepeatInterval)
	set(&opts.Cooldown, cr.Cooldown)
	opts.MuteTimeIntervals = cr.MuteTimeIntervals
	opts.ActiveTimeIntervals = cr.ActiveTimeIntervals

	ms, err := cr.LabelMatchers()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	r := &Route{parent: parent, Options: opts, Matchers: ms, Continue: cr.Continue}
	r.key, r.id = ms.String(), ms.String()
	if parent != nil {
		r.key = parent.key + "/" + r.key
		// The index among the parent's routes, which New appends to.
		r.id = parent.id + "/" + r.id + "/" + strconv.Itoa(len(parent.Routes))
	}
	for i, child := range cr.Routes {
		c, err := build(child, r, opts, where+".routes["+strconv.Itoa(i)+"]", counter)
		if err != nil {
			return nil, err
		}
		r.Routes = append(r.Routes, c)
	}
	r.Idx = *counter
	*counter++
	return r, nil
}

func set(d *time.Duration, v *config.Duration) {
	if v != nil {
		*d = time.Duration(*v)
	}
}

// Match returns the routes an alert with lset goes to, as Alertmanager's
// Route.Match: depth first, left to right; the first matching child ends
// the search among its siblings unless it has continue; a route none of
// whose children match is itself the match. It returns nil when r itself
// does not match (never for a root, which has no matchers).
func (r *Route) Match(lset model.LabelSet) []*Route {
	if !r.Matchers.Matches(lset) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		matches := c.Match(lset)
		all = append(all, matches...)
		if matches != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// Key is Alertmanager's route key: the matchers of the route and its
// parents, from the root, joined by "/" ("{}/{severity=\"critical\"}").
// Siblings with equal matchers share it; ID tells them apart.
func (r *Route) Key() string { return r.key }

// ID is Alertmanager's unique route identifier: Key with the index of each
// route among its siblings ("{}/{severity=\"critical\"}/0").
func (r *Route) ID() string { return r.id }

// GroupLabels returns the labels of lset the route groups by.
func (r *Route) GroupLabels(lset model.LabelSet) model.LabelSet {
	if r.Options.GroupByAll {
		return lset.Clone()
	}
	gl := make(model.LabelSet, len(r.Options.GroupBy))
	for ln := range r.Options.GroupBy {
		if v, ok := lset[ln]; ok {
			gl[ln] = v
		}
	}
	return gl
}

// GroupKey is Alertmanager's aggregation-group key for an alert with lset
// on this route: the route key, ":", the group labels. Notifications carry
// it (the webhook's groupKey). It does not tell siblings with equal
// matchers apart, as in Alertmanager, which keeps each route's groups
// apart by route instead: a receiver grouping alerts should key its
// groups by ID (or Idx) and group labels.
func (r *Route) GroupKey(lset model.LabelSet) string {
	var b strings.Builder
	gl := r.GroupLabels(lset)
	b.Grow(len(r.key) + 1 + 16*len(gl))
	b.WriteString(r.key)
	b.WriteByte(':')
	b.WriteString(gl.String())
	return b.String()
}

// Walk calls visit for r and every route below it, depth first, parents
// before children.
func (r *Route) Walk(visit func(*Route)) {
	visit(r)
	for _, c := range r.Routes {
		c.Walk(visit)
	}
}

// Parent is the route r is a child of, nil for the root.
func (r *Route) Parent() *Route { return r.parent }
