local g = import 'lib.libsonnet';

{
  local c = $._config,
  local sel = '{job=~"$job", instance=~"$instance"}',
  local gw = '{job=~"$gateway_job"}',
  local rate(m) = 'rate(%s%s[$__rate_interval])' % [m, sel],
  local quantile(m, over='$__rate_interval') = 'histogram_quantile(0.95, sum by (le) (rate(%s_bucket%s[%s])))' % [m, sel, over],
  local mean(m) = 'sum(increase(%s_sum%s[$__range])) / sum(increase(%s_count%s[$__range]))' % [m, sel, m, sel],

  grafanaDashboards+:: {
    'gatewarden-throttle.json': g.dashboard(c, 'throttle', 'Runtime Ops / Auto Throttle',
                                            'The auto-throttle of hot plugin instances: CPU against the threshold, throttles at the gateway, outcomes and time to recover.', [
      g.queryVariable('job', 'job', 'gatewarden_throttle_active'),
      g.queryVariable('instance', 'instance', 'gatewarden_throttle_active{job=~"$job"}'),
      g.queryVariable('gateway_job', 'job', 'gateway_plugin_cpu_usage_ratio') { label: 'gateway job' },
    ], [
      g.stat('Automation', 'The kill switch: 1 while the auto-throttle acts on anomalies, 0 while it is disabled (anomalies are alerts only).',
             [g.target('min(gatewarden_throttle_automation_enabled%s)' % sel)], 'short', [{ value: 0, color: 'red' }, { value: 1, color: 'green' }]),
      g.stat('Throttled instances', 'Plugin instances under a throttle now (dry runs excluded).',
             [g.target('sum(gatewarden_throttle_active%s)' % sel)], 'short', [{ value: 1, color: 'orange' }]),
      g.stat('Mean time to throttle', 'Mean time over the range from the anomaly detected to the throttle acknowledged by the gateway.',
             [g.target(mean('gatewarden_throttle_execution_seconds'))], 's'),
      g.stat('MTTR', "Mean time over the range from a throttle applied to its instance's CPU back under the recovery threshold.",
             [g.target(mean('gatewarden_throttle_mttr_seconds'))], 's'),
      g.stat('Queued throttle jobs', 'Gateway calls, audit records and alerts waiting for a throttle worker.',
             [g.target('sum(gatewarden_throttle_queued_jobs%s)' % sel)], 'short'),
      g.stateTimeline('Throttle timeline', 'Plugin instances while their CPU alert fires, the alert that drives the throttle.',
                      [g.target('max by (tenant_id, plugin_id, instance_id) (ALERTS{job=~"$job", instance=~"$instance", alertname="PluginCPUHigh", alertstate="firing"})',
                                '{{tenant_id}}/{{plugin_id}}/{{instance_id}}')]),
      g.timeseries('CPU per instance', 'CPU usage of each plugin instance; the dashed line is the throttle threshold.',
                   [g.target('gateway_plugin_cpu_usage_ratio%s' % gw, '{{tenant_id}}/{{plugin_id}}/{{instance_id}}')], 'percentunit',
                   [{ value: c.pluginCPU.threshold, color: 'red' }]),
      g.timeseries('Concurrency limit per instance', "Each instance's max_concurrency at the gateway: a throttle lowers it, a release restores it.",
                   [g.target('gateway_plugin_max_concurrency%s' % gw, '{{tenant_id}}/{{plugin_id}}/{{instance_id}}')], 'short'),
      g.timeseries('Throttle operations', 'Gateway throttle operations per second: verified successes by operation, failures (after retries) by operation and reason.', [
        g.target('sum by (op) (%s)' % rate('gatewarden_throttle_success_total'), 'ok {{op}}'),
        g.target('sum by (op, reason) (%s)' % rate('gatewarden_throttle_failure_total'), 'failed {{op}} ({{reason}})'),
      ], 'ops'),
      g.timeseries('Reconcile differences', "Differences reconcile found between the gateway's throttle list and gatewarden's state, per second, by kind.",
                   [g.target('sum by (kind) (%s)' % rate('gatewarden_throttle_reconcile_differences_total'), '{{kind}}')], 'ops'),
      g.timeseries('Throttle decisions', 'Decisions on anomalous instances per second: throttle, step, dry run, exempt, blast radius, already limited.',
                   [g.target('sum by (decision) (%s)' % rate('gatewarden_throttle_trigger_total'), '{{decision}}')], 'ops'),
      g.timeseries('Time to throttle and to recover, P95', 'The 95th percentile of the time from detection to the throttle acknowledged, and of the time from the throttle to CPU recovered.', [
        g.target(quantile('gatewarden_throttle_execution_seconds', '$__range'), 'to throttle'),
        g.target(quantile('gatewarden_throttle_mttr_seconds', '$__range'), 'to recover'),
      ], 's'),
    ]),
  },
}
