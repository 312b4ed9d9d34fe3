package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

type detectOpts struct {
	reps     int
	interval time.Duration
}

const detectRule = "BenchCPUHigh"

// instance names one plugin instance of gatewaysim.
type instance struct{ tenant, plugin, id string }

func (i instance) target() string {
	return fmt.Sprintf(`{"tenant_id":%q,"plugin_id":%q,"instance_id":%q}`, i.tenant, i.plugin, i.id)
}

func instanceOf(labels map[string]string) instance {
	return instance{labels["tenant_id"], labels["plugin_id"], labels["instance_id"]}
}

// sink keeps the time the first firing notification of each instance
// arrived.
type sink struct {
	*webhookSink
	got map[instance]time.Time
}

func startSink() (*sink, string, error) {
	s := &sink{got: map[instance]time.Time{}}
	hook, err := startWebhookSink(func(at time.Time, labels map[string]string) {
		if k := instanceOf(labels); labels["alertname"] == detectRule {
			if _, seen := s.got[k]; !seen {
				s.got[k] = at
			}
		}
	})
	if err != nil {
		return nil, "", err
	}
	s.webhookSink = hook
	return s, hook.url, nil
}

func (s *sink) at(k instance) (t time.Time, ok bool) {
	s.locked(func() { t, ok = s.got[k] })
	return t, ok
}

func detectConfig(sim *proc, interval time.Duration, hook string) string {
	return scrapeConfig(sim, interval) + fmt.Sprintf(`rule_files: [rules.yml]
receiver:
  route: {receiver: bench, group_by: [alertname, tenant_id, plugin_id, instance_id], group_wait: 0s, group_interval: 1m, repeat_interval: 1h, cooldown: 0s}
  receivers: [{name: bench, webhook_configs: [{url: %q}]}]
throttle:
  gateway: {url: "http://%s"}
  rule: %s
  ttl: 1h
  stable_window: 1h
  blast_radius: {max_instances: 0, max_plugin_ratio: 0}
`, hook, sim.addr, detectRule)
}

// detectRules fires on the first hot sample, so what is timed is
// gatewarden's path and not a window filling up.
const detectRules = `groups:
  - name: bench-detect
    rules:
      - alert: ` + detectRule + `
        expr: gateway_plugin_cpu_usage_ratio
        condition: {function: all, window: "#1", op: ">", value: 0.8}
        action: throttle
        labels: {severity: critical}
`

// runDetect spikes one plugin instance per repetition and times, from the
// gatewaysim step that exposed the spike: the alert at gatewarden's API,
// the notification at gwbench's webhook sink and the throttle PATCH at
// gatewaysim.
func runDetect(ctx context.Context, e *env, o detectOpts, r *Report) error {
	pop := population{masters: 1, keys: 1, providers: 1, models: 1, tenants: 4, plugins: 4,
		instances: (o.reps + 15) / 16, tick: 100 * time.Millisecond}
	sim, err := e.startSim(ctx, pop)
	if err != nil {
		return err
	}
	defer sim.stop()
	snk, hook, err := startSink()
	if err != nil {
		return err
	}
	defer snk.close()
	gw, err := e.startGatewarden(ctx, "detect", detectConfig(sim, o.interval, hook), map[string]string{"rules.yml": detectRules})
	if err != nil {
		return err
	}
	defer gw.stop()
	e.logf("detect: %d repetitions, scrape and evaluation every %s, gatewaysim tick %s", o.reps, o.interval, pop.tick)
	// Let the first scrapes and evaluations pass, as a running sidecar's.
	if err := sleep(ctx, 3*o.interval); err != nil {
		return err
	}
	var alert, notif, throttle []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range o.reps {
		inst := instance{"t" + strconv.Itoa(i%4+1), fmt.Sprintf("t%d-plugin%d", i%4+1, (i/4)%4+1), "i" + strconv.Itoa(i/16+1)}
		a, n, t, err := detectOnce(ctx, e, sim, gw, snk, inst)
		if err != nil {
			return fmt.Errorf("repetition %d (%s): %w", i+1, inst.target(), err)
		}
		alert, notif, throttle = append(alert, a), append(notif, n), append(throttle, t)
		// A pause off the scrape's rhythm, so spikes land at every phase of it.
		if err := sleep(ctx, time.Duration(rng.Int64N(int64(o.interval)))); err != nil {
			return err
		}
	}
	ctxt := fmt.Sprintf("scrape + evaluation every %s, window #1, group_wait 0s, %d reps", o.interval, o.reps)
	for _, d := range []Dist{newDist("detect.alert", 0, alert), newDist("detect.notification", 0, notif), newDist("detect.throttle", 0, throttle)} {
		d.Context = ctxt
		r.addDist(d)
	}
	return nil
}

// detectOnce runs one spike and returns its three latencies.
func detectOnce(ctx context.Context, e *env, sim, gw *proc, snk *sink, inst instance) (alert, notif, throttle time.Duration, err error) {
	var sc struct {
		ID int `json:"id"`
	}
	if err = e.sendJSON("POST", "http://"+sim.addr+"/sim/scenario", `{"name":"cpu-spike","target":`+inst.target()+`,"params":{"value":0.97}}`, &sc); err != nil {
		return
	}
	defer func() {
		if derr := e.sendJSON("DELETE", fmt.Sprintf("http://%s/sim/scenario/%d", sim.addr, sc.ID), "", nil); err == nil {
			err = derr
		}
	}()
	seen, err := pollAlert(ctx, e, gw, inst)
	if err != nil {
		return
	}
	var applied time.Time
	var notified, throttled bool
	if err = waitFor(ctx, 20*time.Second, 20*time.Millisecond, "the notification and the throttle", func() (bool, error) {
		_, notified = snk.at(inst)
		t, ok, terr := throttleApplied(e, sim, inst)
		applied, throttled = t, ok
		return notified && throttled, terr
	}); err != nil {
		err = fmt.Errorf("%w (notified: %t, throttled: %t)", err, notified, throttled)
		return
	}
	effective, err := scenarioEffective(e, sim, sc.ID)
	if err != nil {
		return
	}
	got, _ := snk.at(inst)
	return seen.Sub(effective), got.Sub(effective), applied.Sub(effective), nil
}

// pollAlert asks gatewarden's /api/v1/alerts every 5 ms until the
// instance's alert fires, and returns when it was first seen.
func pollAlert(ctx context.Context, e *env, gw *proc, inst instance) (time.Time, error) {
	var seen time.Time
	err := waitFor(ctx, 20*time.Second, 5*time.Millisecond, "the alert at /api/v1/alerts", func() (bool, error) {
		var ans struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := e.getJSON("http://"+gw.addr+"/api/v1/alerts", &ans); err != nil {
			return false, err
		}
		for _, a := range ans.Data.Alerts {
			if a.State == "firing" && a.Labels["alertname"] == detectRule && instanceOf(a.Labels) == inst {
				seen = time.Now()
				return true, nil
			}
		}
		return false, nil
	})
	return seen, err
}

func throttleApplied(e *env, sim *proc, inst instance) (time.Time, bool, error) {
	var list struct {
		Throttles []gatewaysim.Throttle `json:"throttles"`
	}
	if err := e.getJSON("http://"+sim.addr+"/internal/gateway/throttle", &list); err != nil {
		return time.Time{}, false, err
	}
	for _, t := range list.Throttles {
		if (instance{t.TenantID, t.PluginID, t.InstanceID}) == inst {
			return t.AppliedAt, true, nil
		}
	}
	return time.Time{}, false, nil
}

func scenarioEffective(e *env, sim *proc, id int) (time.Time, error) {
	var list struct {
		Scenarios []gatewaysim.Scenario `json:"scenarios"`
	}
	if err := e.getJSON("http://"+sim.addr+"/sim/scenario", &list); err != nil {
		return time.Time{}, err
	}
	for _, s := range list.Scenarios {
		if s.ID == id && !s.EffectiveAt.IsZero() {
			return s.EffectiveAt, nil
		}
	}
	return time.Time{}, fmt.Errorf("scenario %d lists no effective_at (a gatewaysim older than gwbench?)", id)
}
