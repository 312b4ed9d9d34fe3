local g = import 'lib.libsonnet';

{
  local c = $._config,
  local sel = '{job=~"$job", instance=~"$instance"}',
  local alerts(state) = 'ALERTS{job=~"$job", instance=~"$instance", alertstate="%s"}' % state,
  local rate(m, s=sel) = 'rate(%s%s[$__rate_interval])' % [m, s],

  grafanaDashboards+:: {
    'gatewarden-alerts.json': g.dashboard(c, 'alerts', 'Alerts',
                                          "gatewarden's alerts and their notifications: what fires, what was delivered, held back or is waiting.", [
      g.queryVariable('job', 'job', 'gatewarden_config_last_reload_successful'),
      g.queryVariable('instance', 'instance', 'gatewarden_config_last_reload_successful{job=~"$job"}'),
    ], [
      g.stat('Firing alerts', 'Alerts gatewarden evaluates as firing now.',
             [g.target('count(%s)' % alerts('firing'))], 'short', [{ value: 1, color: 'red' }]),
      g.stat('Outbox waiting', 'Notifications waiting in the outbox to be sent.',
             [g.target('sum(gatewarden_outbox_pending%s)' % sel)], 'short', [{ value: c.outboxBacklog, color: 'red' }]),
      g.stat('Outbox given up', 'Notifications in the outbox given up on.',
             [g.target('sum(gatewarden_outbox_failed%s)' % sel)], 'short', [{ value: 1, color: 'red' }]),
      g.stat('Alerts received', 'Alerts received per second over the ingest APIs (Alertmanager webhook, API v2) and from the evaluator.',
             [g.target('sum(%s)' % rate('gatewarden_receiver_alerts_received_total'))], 'short'),
      g.timeseries('Firing alerts by severity', 'Firing alerts, per severity label.',
                   [g.target('count by (severity) (%s)' % alerts('firing'), '{{severity}}')], 'short', stack=true),
      g.timeseries('Firing alerts by rule', 'Firing alerts, per alert name.',
                   [g.target('count by (alertname) (%s)' % alerts('firing'), '{{alertname}}')], 'short', stack=true),
      g.timeseries('Notifications by channel and status', 'Delivery attempts per second: sent, retried (will retry), failed (given up) and suppressed (channel disabled).',
                   [g.target('sum by (channel, status) (%s)' % rate('gatewarden_notifications_total'), '{{channel}} {{status}}')], 'short'),
      g.timeseries('Suppressions by reason', 'Alerts per second held back from a notification: cooldown, silenced, inhibited, time interval, duplicate.',
                   [g.target('sum by (reason) (%s)' % rate('gatewarden_notifications_suppressed_total'), '{{reason}}')], 'short', stack=true),
      g.timeseries('Outbox depth', 'Notifications waiting, claimed by a worker and given up on.', [
        g.target('sum(gatewarden_outbox_pending%s)' % sel, 'waiting'),
        g.target('sum(gatewarden_outbox_claimed%s)' % sel, 'claimed'),
        g.target('sum(gatewarden_outbox_failed%s)' % sel, 'given up'),
      ], 'short'),
      g.timeseries('Delivery latency P95 by channel', "The 95th percentile of the time from a notification's enqueueing to its delivery, retries included.",
                   [g.target('histogram_quantile(0.95, sum by (le, channel) (%s))' % rate('gatewarden_notification_latency_seconds_bucket'), '{{channel}}')], 's'),
      g.timeseries('Delivery attempt duration P95 by channel', 'The 95th percentile of one delivery attempt to a channel.',
                   [g.target('histogram_quantile(0.95, sum by (le, channel) (%s))' % rate('gatewarden_notification_attempt_duration_seconds_bucket'), '{{channel}}')], 's'),
      g.timeseries('Rule evaluation failures', 'Failed rule evaluations per second, per rule group.',
                   [g.target('sum by (rule_group) (%s)' % rate('gatewarden_rule_evaluation_failures_total'), '{{rule_group}}')], 'short'),
    ]),
  },
}
