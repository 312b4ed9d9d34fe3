package route

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
)

const tree = `
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_wait: 5s
      cooldown: 10m
      continue: true
      routes:
        - matchers: ['team="billing"']
          receiver: billing
          group_by: ['...']
        - matchers: ['team="billing"']
          receiver: shadowed
    - matchers: ['team=~"bill.*"']
      receiver: team
      cooldown: 0s
      group_by: []
receivers: [{name: default}, {name: pager}, {name: billing}, {name: shadowed}, {name: team}]
`

func mustLoad(t testing.TB, yml string) *Route {
	t.Helper()
	r, err := loadGatewarden(t, yml)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func receivers(rs []*Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Options.Receiver)
	}
	return out
}

func TestMatch(t *testing.T) {
	root := mustLoad(t, tree)
	for _, tc := range []struct {
		lset model.LabelSet
		want []string
	}{
		{model.LabelSet{"alertname": "A"}, []string{"default"}},
		// The critical route continues, so the team route is tried too; its
		// first child stops its siblings.
		{model.LabelSet{"severity": "critical", "team": "billing"}, []string{"billing", "team"}},
		// No child of the critical route matches: the route itself does.
		{model.LabelSet{"severity": "critical", "team": "infra"}, []string{"pager"}},
		{model.LabelSet{"team": "billing-eu"}, []string{"team"}},
	} {
		if got := receivers(root.Match(tc.lset)); !slices.Equal(got, tc.want) {
			t.Errorf("Match(%s) = %v, want %v", tc.lset, got, tc.want)
		}
	}
	if got := root.Routes[0].Match(model.LabelSet{"severity": "info"}); got != nil {
		t.Errorf("a route that does not match returns nil, got %v", receivers(got))
	}
}

func TestOptionsInheritance(t *testing.T) {
	root := mustLoad(t, tree)
	crit, billing, shadowed, team := root.Routes[0], root.Routes[0].Routes[0], root.Routes[0].Routes[1], root.Routes[1]
	if o := root.Options; o.GroupWait != config.DefaultGroupWait || o.GroupInterval != config.DefaultGroupInterval ||
		o.RepeatInterval != config.DefaultRepeatInterval || o.Cooldown != config.DefaultCooldown {
		t.Errorf("root options: %+v", o)
	}
	if billing.Options.GroupWait != 5*time.Second || billing.Options.Cooldown != 10*time.Minute || billing.Options.RepeatInterval != config.DefaultRepeatInterval {
		t.Errorf("billing inherits its parent's timings: %+v", billing.Options)
	}
	if team.Options.Cooldown != 0 {
		t.Errorf("cooldown: 0s turns the cooldown off, got %s", team.Options.Cooldown)
	}
	if !billing.Options.GroupByAll || shadowed.Options.GroupByAll || len(shadowed.Options.GroupBy) != 1 {
		t.Errorf("group_by: billing %+v, shadowed %+v", billing.Options, shadowed.Options)
	}
	lset := model.LabelSet{"alertname": "A", "severity": "critical", "team": "billing"}
	if got := team.GroupLabels(lset); len(got) != 0 {
		t.Errorf("group_by: [] groups all alerts together, got %s", got)
	}
	if got := billing.GroupLabels(lset); !got.Equal(lset) {
		t.Errorf("group_by: ['...'] groups by every label, got %s", got)
	}
	if got, want := crit.GroupKey(lset), `{}/{severity="critical"}:{alertname="A"}`; got != want {
		t.Errorf("GroupKey = %s, want %s", got, want)
	}
	if billing.Key() != shadowed.Key() || billing.ID() == shadowed.ID() || shadowed.ID() != `{}/{severity="critical"}/0/{team="billing"}/1` {
		t.Errorf("siblings with equal matchers: keys %s %s, IDs %s %s", billing.Key(), shadowed.Key(), billing.ID(), shadowed.ID())
	}
}

func TestWalk(t *testing.T) {
	root := mustLoad(t, tree)
	var got []string
	idx := map[int]bool{}
	root.Walk(func(r *Route) {
		got = append(got, r.Options.Receiver)
		idx[r.Idx] = true
		if r != root && !slices.Contains(r.Parent().Routes, r) {
			t.Errorf("%s: parent does not list it", r.ID())
		}
	})
	if want := []string{"default", "pager", "billing", "shadowed", "team"}; !slices.Equal(got, want) {
		t.Errorf("Walk order %v, want %v", got, want)
	}
	// Post-order numbering, as Alertmanager's: children first, root last.
	if len(idx) != 5 || root.Idx != 4 || root.Routes[0].Routes[0].Idx != 0 || root.Parent() != nil {
		t.Errorf("Idx: root %d, first leaf %d, %v", root.Idx, root.Routes[0].Routes[0].Idx, idx)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		root *config.Route
		want string
	}{
		{"nil", nil, "no root route"},
		{"no receiver", &config.Route{}, "root route must specify a default receiver"},
		{"empty child", &config.Route{Receiver: "r", Routes: []*config.Route{{}, nil}}, "route.routes[1]: empty route"},
		{"bad matcher", &config.Route{Receiver: "r", Routes: []*config.Route{{Matchers: []string{"a=~("}}}}, "route.routes[0]: error parsing regexp"},
		{"bad match_re", &config.Route{Receiver: "r", MatchRE: map[string]string{"a": "("}}, "route: match_re a: error parsing regexp"},
	} {
		if _, err := New(tc.root, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	// A root built by hand, not through config.Load, gets the defaults.
	r, err := New(&config.Route{Receiver: "r"}, time.Minute)
	if err != nil || r.Options.GroupWait != config.DefaultGroupWait || r.Options.Cooldown != time.Minute || r.Key() != "{}" {
		t.Errorf("hand-built root: %+v %v", r, err)
	}
}
