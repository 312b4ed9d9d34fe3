// Alerts on gatewarden itself, from the series of its /metrics as the
// central Prometheus scrapes them. gatewarden's own `job` label (the job it
// scrapes) arrives as exported_job there.
local u = import '../lib/utils.libsonnet';

{
  local c = $._config,
  local s(extra=[]) = u.sel(c.gatewardenSelector, extra),

  prometheusAlerts+:: {
    groups+: [{
      name: 'gatewarden',
      rules: [
        {
          alert: 'GatewardenDown',
          expr: 'up%s == 0' % s(),
          'for': '5m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'gatewarden is down.',
            description: 'Prometheus cannot scrape gatewarden at {{ $labels.instance }}.',
          },
        },
        {
          alert: 'GatewardenScrapeFailing',
          expr: |||
            sum without (reason) (rate(gatewarden_scrape_failures_total%s[5m]))
              / rate(gatewarden_scrapes_total%s[5m]) > %s
          ||| % [s(), s(), u.num(c.scrapeFailureRatio)],
          'for': '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'gatewarden cannot scrape a target.',
            description: 'gatewarden {{ $labels.instance }} fails {{ $value | humanizePercentage }} of its scrapes of job {{ $labels.exported_job }}.',
          },
        },
        {
          alert: 'GatewardenRuleEvaluationFailures',
          expr: 'sum by (job, instance, rule_group) (increase(gatewarden_rule_evaluation_failures_total%s[5m])) > 0' % s(),
          'for': '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'gatewarden fails to evaluate rules.',
            description: 'gatewarden {{ $labels.instance }} failed {{ $value | humanize }} evaluations of group {{ $labels.rule_group }} in 5 minutes.',
          },
        },
        {
          alert: 'GatewardenNotificationsFailing',
          expr: 'sum by (job, instance, channel) (increase(gatewarden_notifications_total%s[15m])) > 0' % s(['status="failed"']),
          labels: { severity: 'warning' },
          annotations: {
            summary: 'gatewarden gave up on notifications.',
            description: 'gatewarden {{ $labels.instance }} gave up on {{ $value | humanize }} notifications to channel {{ $labels.channel }} in 15 minutes.',
          },
        },
        {
          alert: 'GatewardenChannelFailing',
          expr: 'gatewarden_delivery_channel_failing%s == 1' % s(),
          'for': '5m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'A notification channel keeps failing.',
            description: 'Channel {{ $labels.channel }} of gatewarden {{ $labels.instance }} fails every delivery attempt.',
          },
        },
        {
          alert: 'GatewardenOutboxBacklogGrowing',
          expr: 'gatewarden_outbox_pending%s > %d and deriv(gatewarden_outbox_pending%s[15m]) > 0' % [s(), c.outboxBacklog, s()],
          'for': '15m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The notification outbox keeps growing.',
            description: 'gatewarden {{ $labels.instance }} has {{ $value | humanize }} notifications waiting, and more every minute.',
          },
        },
        {
          alert: 'GatewardenOutboxStalled',
          expr: 'time() - (gatewarden_outbox_oldest_pending_timestamp_seconds%s > 0) > %d' % [s(), c.outboxOldestAge],
          'for': '5m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'A notification waits in the outbox for long.',
            description: 'The oldest notification of gatewarden {{ $labels.instance }} has waited more than %ds.' % c.outboxOldestAge,
          },
        },
        {
          alert: 'GatewardenThrottleFailures',
          expr: 'sum by (job, instance, op, reason) (increase(gatewarden_throttle_failure_total%s[10m])) > 0' % s(),
          labels: { severity: 'warning' },
          annotations: {
            summary: 'gatewarden fails to throttle plugin instances.',
            description: 'gatewarden {{ $labels.instance }} failed {{ $value | humanize }} throttle {{ $labels.op }} operations ({{ $labels.reason }}) in 10 minutes.',
          },
        },
        {
          alert: 'GatewardenConfigReloadFailed',
          expr: 'gatewarden_config_last_reload_successful%s == 0' % s(),
          'for': '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'gatewarden failed to reload its configuration.',
            description: 'gatewarden {{ $labels.instance }} runs its previous configuration: the last reload failed.',
          },
        },
      ],
    }],
  },
}
