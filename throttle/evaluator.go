package throttle

import "github.com/gatewarden/gatewarden/evaluator"

// FromAlerts turns the alerts one evaluation sends into Events: the
// daemon's evaluator Notify hook calls Observe(ctx, FromAlerts(alerts))
// right after the evaluation, before the alerts go on to the receiver.
// Alerts without the three instance labels are not about a plugin
// instance and are left out; so are pending ones, which the evaluator
// does not send anyway. Observe keeps those of the policy's rule.
func FromAlerts(alerts []*evaluator.Alert) []Event {
	var out []Event
	for _, a := range alerts {
		ev := Event{
			Rule: a.Labels.Get("alertname"),
			Instance: Instance{
				TenantID:   a.Labels.Get("tenant_id"),
				PluginID:   a.Labels.Get("plugin_id"),
				InstanceID: a.Labels.Get("instance_id"),
			},
			Value: a.Value,
		}
		switch {
		case ev.TenantID == "" || ev.PluginID == "" || ev.InstanceID == "":
			continue
		case a.Resolved():
			ev.At = a.ResolvedAt
		case a.State == evaluator.StateFiring:
			ev.Firing, ev.At = true, a.FiredAt
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}
