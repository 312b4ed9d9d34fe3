// The differential test runs Alertmanager's own config loader, route tree
// and dispatcher on the same YAML as gatewarden's config and route tree.
// -update rewrites the golden file that golden_test.go holds gatewarden to,
// from Alertmanager's own answers.

package route

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
)

var update = flag.Bool("update", false, "rewrite "+goldenFile+" from Alertmanager")

// init puts Alertmanager's matcher parsing in the mode its binary starts in
// by default (UTF-8 parser, classic fallback) rather than the library's
// classic-only default, which is what operators' alertmanager.yml files are
// written against.
func init() {
	compat.InitFromFlags(promslog.NewNopLogger(), featurecontrol.NoopFlags{})
}

func TestAlertmanagerDifferential(t *testing.T) {
	golden := map[string]result{}
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			gw, err := loadGatewarden(t, tc.yaml)
			if err != nil {
				t.Fatalf("gatewarden: %v", err)
			}
			want := observeAlertmanager(t, tc.yaml)
			got := observe(gw)
			compareResults(t, got, want)
			golden[tc.name] = want
		})
	}
	if *update && !t.Failed() {
		b, err := json.MarshalIndent(golden, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAlertmanagerRejectsTheSame holds that what Alertmanager refuses to
// load, gatewarden refuses too, and the other way round.
func TestAlertmanagerRejectsTheSame(t *testing.T) {
	const rcv = "receivers: [{name: r}]\n"
	for _, tree := range []string{
		"route: {receiver: r, matchers: ['a=b']}\n" + rcv,
		"route: {receiver: r, continue: true}\n" + rcv,
		"route: {receiver: r, mute_time_intervals: [x]}\n" + rcv + "time_intervals: [{name: x}]\n",
		"route: {group_by: [a]}\n" + rcv,
		"route: {receiver: r, routes: [{receiver: nobody}]}\n" + rcv,
		"route: {receiver: r, routes: [{group_by: ['...', a]}]}\n" + rcv,
		"route: {receiver: r, routes: [{group_by: [a, a]}]}\n" + rcv,
		"route: {receiver: r, routes: [{match: {service.name: x}}]}\n" + rcv,
		"route: {receiver: r, routes: [{match_re: {a: '(('}}]}\n" + rcv,
		"route: {receiver: r, routes: [{matchers: ['a=~\"((\"']}]}\n" + rcv,
		"route: {receiver: r, routes: [{matchers: ['a b']}]}\n" + rcv,
		"route: {receiver: r, routes: [{group_interval: 0s}]}\n" + rcv,
		"route: {receiver: r, routes: [{repeat_interval: 0s}]}\n" + rcv,
		"route: {receiver: r, routes: [{active_time_intervals: [x]}]}\n" + rcv,
		"route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n",
		"route: {receiver: r}\n" + rcv + "time_intervals: [{name: x}, {name: x}]\n",
		"route: {receiver: r}\n" + rcv + "time_intervals: [{name: x, time_intervals: [{weekdays: [funday]}]}]\n",
		"route: {receiver: r}\n" + rcv + "inhibit_rules: [{source_matchers: ['a=~\"((\"']}]\n",
	} {
		_, amErr := amconfig.Load(tree)
		_, gwErr := loadGatewarden(t, tree)
		if amErr == nil || gwErr == nil {
			t.Errorf("%s  Alertmanager: %v\n  gatewarden: %v", tree, amErr, gwErr)
		}
	}
	for _, tc := range trees {
		if _, err := amconfig.Load(tc.yaml); err != nil {
			t.Errorf("%s: Alertmanager rejects a tree gatewarden loads: %v", tc.name, err)
		}
	}
}

func observeAlertmanager(t *testing.T, tree string) result {
	t.Helper()
	cfg, err := amconfig.Load(tree)
	if err != nil {
		t.Fatalf("alertmanager: %v", err)
	}
	root := dispatch.NewRoute(cfg.Route, nil)
	res := result{Alerts: alertStrings()}
	root.Walk(func(r *dispatch.Route) {
		o := r.RouteOpts
		res.Routes = append(res.Routes, newNode(r.Key(), r.ID(), r.Idx, o.Receiver, o.GroupBy, o.GroupByAll, r.Continue,
			o.GroupWait, o.GroupInterval, o.RepeatInterval, o.MuteTimeIntervals, o.ActiveTimeIntervals))
	})
	for _, lset := range alerts {
		var ds []delivery
		for _, r := range root.Match(lset) {
			// Group key and labels come from the dispatcher below.
			ds = append(ds, delivery{ID: r.ID(), Key: r.Key(), Receiver: r.RouteOpts.Receiver})
		}
		res.Deliveries = append(res.Deliveries, ds)
	}
	res.Groups = dispatchGroups(t, root)
	// Each delivery's group is the one of its route holding the alert.
	for i, ds := range res.Deliveries {
		for j := range ds {
			for _, g := range res.Groups {
				if g.RouteID == ds[j].ID && slices.Contains(g.Alerts, alerts[i].String()) {
					ds[j].GroupKey, ds[j].GroupLabels = g.GroupKey, g.Labels
				}
			}
		}
	}
	return res
}

// dispatchGroups runs Alertmanager's dispatcher over every alert and reads
// back the aggregation groups it made, so group keys and labels are the
// ones Alertmanager computes rather than a copy of its formula. The
// dispatcher routes the alerts present when it starts before it reports
// loading done, so Groups sees them all. (It must start now: its start
// timer ignores Stop.) Flushes go to a stage that does nothing.
func dispatchGroups(t *testing.T, root *dispatch.Route) []group {
	t.Helper()
	logger := promslog.NewNopLogger()
	reg := prometheus.NewRegistry()
	provider, err := mem.NewAlerts(context.Background(), time.Hour, 0, nil, logger, eventrecorder.NopRecorder(), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Close()
	now := time.Now()
	for _, lset := range alerts {
		a := &alert.Alert{Alert: model.Alert{Labels: lset, StartsAt: now, EndsAt: now.Add(time.Hour)}, UpdatedAt: now}
		if err := provider.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	stage := notify.StageFunc(func(ctx context.Context, _ *slog.Logger, as ...*alert.Alert) (context.Context, []*alert.Alert, error) {
		return ctx, as, nil
	})
	d := dispatch.NewDispatcher(provider, root, stage, marker.NewGroupMarker(), nil, time.Hour, nil, logger,
		eventrecorder.NopRecorder(), dispatch.NewDispatcherMetrics(false, reg, nil), nil)
	go d.Run(now)
	defer d.Stop()
	d.WaitForLoading()
	ags, _, err := d.Groups(context.Background(), func(*dispatch.Route) bool { return true }, func(*alert.Alert, time.Time) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	gs := newGroups()
	for _, ag := range ags {
		for _, a := range ag.Alerts {
			gs.add(ag.RouteID, ag.GroupKey, ag.Receiver, ag.Labels.String(), a.Labels)
		}
	}
	return gs.sorted()
}
