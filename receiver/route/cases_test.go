package route

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
)

// trees are route trees written once, in alertmanager.yml's syntax: the
// differential test loads each as an alertmanager.yml into Alertmanager
// and, indented under receiver:, as a gatewarden.yml into gatewarden.
var trees = []struct{ name, yaml string }{
	{"nested and inherited timings", `
route:
  receiver: default
  group_by: [alertname]
  group_wait: 15s
  routes:
    - matchers: ['team="billing"']
      receiver: billing
      group_interval: 2m
      routes:
        - matchers: ['severity="critical"']
          receiver: billing-oncall
          repeat_interval: 30m
          routes:
            - matchers: ['env="prod"']
              group_wait: 1s
        - matchers: ['severity="warning"']
          group_by: [alertname, master]
    - matchers: ['team="infra"']
      receiver: infra
receivers: [{name: default}, {name: billing}, {name: billing-oncall}, {name: infra}]
`},
	{"continue", `
route:
  receiver: default
  routes:
    - matchers: ['severity=~"critical|warning"']
      receiver: audit
      continue: true
    - matchers: ['severity="critical"']
      receiver: oncall
      continue: true
      routes:
        - matchers: ['team="billing"']
          receiver: billing
          continue: true
        - matchers: ['env="prod"']
          receiver: prod
    - matchers: ['severity="critical"']
      receiver: never-after-a-stop
    - matchers: ['team="billing"']
      receiver: billing
receivers: [{name: default}, {name: audit}, {name: oncall}, {name: billing}, {name: prod}, {name: never-after-a-stop}]
`},
	{"match, match_re and matchers", `
route:
  receiver: default
  routes:
    - match: {team: billing, env: prod}
      receiver: eq
    - match_re: {model: 'gpt-4.*|claude-.*', code: '5..'}
      receiver: re
    - matchers: ['model=~"gpt-4"', 'alertname="Spend,Budget"']
      receiver: quoted
    - match: {team: ops}
      match_re: {severity: 'crit.*'}
      matchers: ['env=~"prod|staging", code=~".+"']
      receiver: mixed
    - matchers: ['env!="prod"', 'code!~"2..|3.."']
      receiver: negative
    - matchers: ['master=""']
      receiver: no-master
receivers: [{name: default}, {name: eq}, {name: re}, {name: negative}, {name: no-master}, {name: quoted}, {name: mixed}]
`},
	{"group_by", `
route:
  receiver: default
  group_by: [alertname, master]
  routes:
    - matchers: ['team="billing"']
      receiver: all
      group_by: ['...']
      routes:
        - matchers: ['severity="critical"']
          routes:
            - matchers: ['env="prod"']
              group_by: [master]
    - matchers: ['team="infra"']
      receiver: one-group
      group_by: []
    - matchers: ['team="ops"']
      receiver: wildcard-twice
      group_by: ['...', '...']
receivers: [{name: default}, {name: all}, {name: one-group}, {name: wildcard-twice}]
`},
	{"siblings with equal matchers", `
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['severity="critical"']
      receiver: chat
      continue: true
    - matchers: ['severity="critical"']
      receiver: chat
      group_by: [master]
    - matchers: ['severity="critical"']
      receiver: unreachable
receivers: [{name: default}, {name: pager}, {name: chat}, {name: unreachable}]
`},
	{"UTF-8 label names", `
route:
  receiver: default
  group_by: [service.name]
  routes:
    - matchers: ['"service.name"="gateway"']
      receiver: gateway
      group_by: ['service.name', 'k8s.pod']
    - matchers: ['"k8s.pod"=~"api-.*"', 'alertname="Down"']
      receiver: pods
receivers: [{name: default}, {name: gateway}, {name: pods}]
`},
	{"time intervals", `
route:
  receiver: default
  routes:
    - matchers: ['severity="warning"']
      receiver: office
      active_time_intervals: [office]
      routes:
        - matchers: ['team="billing"']
          mute_time_intervals: [nights]
    - matchers: ['severity="info"']
      receiver: office
      mute_time_intervals: [nights, office]
receivers: [{name: default}, {name: office}]
time_intervals:
  - name: office
    time_intervals: [{weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '18:00'}]}]
  - name: nights
    time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}], location: Asia/Shanghai}]
`},
	{"a production alertmanager.yml", `
route:
  receiver: feishu-default
  group_by: [alertname, master, provider]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    - matchers: ['alertname="Watchdog"']
      receiver: blackhole
      repeat_interval: 1m
    - matchers: ['severity="critical"']
      receiver: feishu-oncall
      group_wait: 10s
      continue: true
    - matchers: ['alertname=~"Gateway(Budget|Spend).*"']
      receiver: finance-mail
      group_by: [master]
      routes:
        - matchers: ['period="day"']
          repeat_interval: 24h
    - match_re: {provider: 'openai|azure'}
      receiver: provider-webhook
      group_by: ['...']
receivers: [{name: feishu-default}, {name: blackhole}, {name: feishu-oncall}, {name: finance-mail}, {name: provider-webhook}]
`},
}

// alerts are the label sets every tree routes; between them they take
// every branch above.
var alerts = []model.LabelSet{
	{"alertname": "Down"},
	{"alertname": "HighErrorRate", "team": "billing", "severity": "critical", "env": "prod", "master": "m1", "code": "500"},
	{"alertname": "HighErrorRate", "team": "billing", "severity": "critical", "env": "dev", "master": "m2", "code": "502"},
	{"alertname": "HighErrorRate", "team": "billing", "severity": "warning", "env": "prod", "master": "m1"},
	{"alertname": "HighErrorRate", "team": "billing", "severity": "info", "env": "staging"},
	{"alertname": "HighLatency", "team": "infra", "severity": "critical", "env": "prod", "instance": "a:1"},
	{"alertname": "HighLatency", "team": "ops", "severity": "critical-ish", "env": "staging", "code": "404"},
	{"alertname": "Spend,Budget", "model": "gpt-4", "code": "200", "env": "prod"},
	{"alertname": "TokenBurst", "model": "gpt-4o", "code": "503", "provider": "openai", "master": "m3"},
	{"alertname": "TokenBurst", "model": "xgpt-4", "code": "503", "provider": "anthropic"},
	{"alertname": "TokenBurst", "model": "claude-3", "code": "599", "provider": "azure", "master": ""},
	{"alertname": "Watchdog", "severity": "none"},
	{"alertname": "GatewayBudgetExceeded", "master": "m1", "period": "day", "severity": "critical"},
	{"alertname": "GatewaySpendHigh", "master": "m2", "period": "month"},
	{"alertname": "Down", "service.name": "gateway", "k8s.pod": "api-1"},
	{"alertname": "Down", "service.name": "worker", "k8s.pod": "api-2"},
	{"alertname": "Down", "k8s.pod": "web-1", "team": "ops", "env": "prod", "severity": "critical"},
	{"alertname": "Slow", "severity": "warning"},
	{"alertname": "Quiet", "env": "prod", "master": "m9"},
	{},
}

// node is what a tree says about one of its routes.
type node struct {
	Key, ID, Receiver                        string
	Idx                                      int
	GroupBy                                  []string
	GroupByAll, Continue                     bool
	GroupWait, GroupInterval, RepeatInterval string
	MuteTimeIntervals, ActiveTimeIntervals   []string
}

// delivery is one route an alert went to, and the group it joined there.
type delivery struct {
	ID, Key, Receiver, GroupKey, GroupLabels string
}

// group is one aggregation group with the alerts in it.
type group struct {
	RouteID, GroupKey, Receiver, Labels string
	Alerts                              []string
}

// result is what one implementation does with one tree.
type result struct {
	Alerts     []string // the label sets routed, so a stale golden file shows
	Routes     []node
	Deliveries [][]delivery // per alert, in alerts' order
	Groups     []group
}

func loadGatewarden(t testing.TB, tree string) (*Route, error) {
	t.Helper()
	cfg, err := config.Load([]byte("receiver:\n"+indent(tree)), "gatewarden.yml")
	if err != nil {
		return nil, err
	}
	return New(cfg.Receiver.Route, cfg.Receiver.CooldownOrDefault())
}

func indent(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n")
}

func observe(root *Route) result {
	res := result{Alerts: alertStrings()}
	root.Walk(func(r *Route) {
		o := r.Options
		res.Routes = append(res.Routes, newNode(r.Key(), r.ID(), r.Idx, o.Receiver, o.GroupBy, o.GroupByAll, r.Continue,
			o.GroupWait, o.GroupInterval, o.RepeatInterval, o.MuteTimeIntervals, o.ActiveTimeIntervals))
	})
	groups := newGroups()
	for _, lset := range alerts {
		var ds []delivery
		for _, r := range root.Match(lset) {
			d := delivery{r.ID(), r.Key(), r.Options.Receiver, r.GroupKey(lset), r.GroupLabels(lset).String()}
			ds = append(ds, d)
			groups.add(d.ID, d.GroupKey, d.Receiver, d.GroupLabels, lset)
		}
		res.Deliveries = append(res.Deliveries, ds)
	}
	res.Groups = groups.sorted()
	return res
}

func newNode(key, id string, idx int, receiver string, groupBy map[model.LabelName]struct{}, all, cont bool,
	wait, interval, repeat time.Duration, mute, active []string) node {
	var gb []string
	for ln := range groupBy {
		gb = append(gb, string(ln))
	}
	slices.Sort(gb)
	return node{Key: key, ID: id, Idx: idx, Receiver: receiver, GroupBy: gb, GroupByAll: all, Continue: cont,
		GroupWait: wait.String(), GroupInterval: interval.String(), RepeatInterval: repeat.String(),
		// nil and empty say the same: no intervals.
		MuteTimeIntervals: slices.Clip(append([]string{}, mute...)), ActiveTimeIntervals: slices.Clip(append([]string{}, active...))}
}

type groupSet map[string]*group

func newGroups() groupSet { return groupSet{} }

func (gs groupSet) add(routeID, groupKey, receiver, labels string, alert model.LabelSet) {
	k := routeID + "\x00" + groupKey
	g, ok := gs[k]
	if !ok {
		g = &group{RouteID: routeID, GroupKey: groupKey, Receiver: receiver, Labels: labels}
		gs[k] = g
	}
	g.Alerts = append(g.Alerts, alert.String())
}

func (gs groupSet) sorted() []group {
	var out []group
	for _, k := range slices.Sorted(maps.Keys(gs)) {
		g := *gs[k]
		slices.Sort(g.Alerts)
		out = append(out, g)
	}
	return out
}

func alertStrings() []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.String())
	}
	return out
}
