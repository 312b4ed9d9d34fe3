// The built-in rule pack's gateway alerts in plain PromQL, for a central
// Prometheus. Where the pack judges a window of N evaluations, these alerts
// hold for (N-1) evaluation intervals; where the pack has levels, each
// severity is one alert on its own band of values, so that one fires at a
// time. mixin_test.go holds the expressions and thresholds to the pack's.
local u = import '../lib/utils.libsonnet';

// lower is the comparison for a threshold; upper bounds a warning band
// below the critical threshold, on the side where critical does not hold.
local upper = { '>': '<=', '>=': '<', '<': '>=', '<=': '>' };

{
  local c = $._config,
  local s(extra=[]) = u.sel(c.gatewaySelector, extra),

  // levels turns one expression into a critical and a warning alert.
  local levels(name, base, op, t, summary, description, extra={}) = [
    {
      alert: name,
      expr: '(%s) %s %s' % [base, op, u.num(t.critical)],
      labels: { severity: 'critical' } + extra,
      annotations: { summary: summary, description: description },
    },
    {
      alert: name,
      expr: '(%s) %s %s %s %s' % [base, op, u.num(t.warning), upper[op], u.num(t.critical)],
      labels: { severity: 'warning' } + extra,
      annotations: { summary: summary, description: description },
    },
  ],
  // event is one of ez-api's event alerts: one severity, its type label.
  local event(name, expr, points, severity, type, summary, description) = {
    alert: name,
    expr: expr,
    'for': forN(points),
    labels: { severity: severity, type: type },
    annotations: { summary: summary, description: description },
  },
  local withFor(rules, d) = [r { 'for': d } for r in rules],
  local forN(points) = u.forPoints(points, c.evaluationInterval),

  local requests = 'gateway_requests_total' + s(),
  local tokens = 'gateway_tokens_total' + s(),

  local budget = |||
    sum by (master) (gateway_spend_usd_total%s)
      / on (master) group_left (period) max by (master, period) (gateway_master_budget_usd%s)
  ||| % [s(), s()],

  local budgetSteps = [
    local steps = c.budgetSteps;
    local next = if i + 1 < std.length(steps) then ' < ' + u.num(steps[i + 1]) else '';
    {
      alert: 'GatewayBudgetStep',
      expr: '(%s) >= %s%s' % [std.rstripChars(budget, '\n'), u.num(steps[i]), next],
      labels: { severity: 'warning', step: u.num(steps[i]) },
      annotations: {
        summary: 'A master crossed a step of its budget.',
        description: 'Master {{ $labels.master }} spent {{ $value | humanizePercentage }} of its {{ $labels.period }} budget.',
      },
    }
    for i in std.range(0, std.length(c.budgetSteps) - 1)
  ],

  local errorRatio = |||
    (
      sum by (master) (rate(gateway_requests_total%s[5m]))
        / sum by (master) (rate(%s[5m]))
    ) and on (master) sum by (master) (increase(%s[5m])) >= %d
  ||| % [s(['code=~"5.."']), requests, requests, c.errorRate.minRequests],

  local p95 = |||
    histogram_quantile(0.95,
      sum by (le, master, provider) (rate(gateway_request_duration_seconds_bucket%s[5m])))
  ||| % s(),

  local quota(counter, limit) = |||
    sum by (master) (rate(%s[1m])) * 60
      / on (master) max by (master) (%s%s)
  ||| % [counter, limit, s()],

  local spike = |||
    (
      sum by (master) (rate(%s[1m]))
        / sum by (master) (rate(%s[1m] offset %s)) * 100 - 100
    ) and on (master) sum by (master) (rate(%s[1m])) * 60 >= %d
  ||| % [requests, requests, c.trafficSpike.offset, requests, c.trafficSpike.minRPM],

  local trim(e) = std.rstripChars(e, '\n'),

  local rateLimited = |||
    (
      sum by (master) (rate(gateway_requests_total%s[1m]))
        / sum by (master) (rate(%s[1m]))
    ) and on (master) sum by (master) (increase(%s[1m])) >= %d
  ||| % [s(['code="429"']), requests, requests, c.rateLimited.minRequests],

  local quotaUse = |||
    max by (master) (
      label_replace(%s, "limit", "rpm", "", "")
      or label_replace(%s, "limit", "tpm", "", "")
    )
  ||| % [trim(quota(requests, 'gateway_master_limit_rpm')), trim(quota(tokens, 'gateway_master_limit_tpm'))],

  prometheusAlerts+:: {
    groups+: [
      { name: 'gateway-budget', rules: budgetSteps },
      {
        name: 'gateway-traffic',
        rules:
          withFor(levels('GatewayErrorRate', trim(errorRatio), '>', c.errorRate,
                         'A master answers many requests with 5xx.',
                         'Master {{ $labels.master }} answers {{ $value | humanizePercentage }} of requests with 5xx.'), forN(c.errorRate.points))
          + withFor(levels('GatewayLatencyP95', trim(p95), '>', c.latencyP95,
                           'Gateway P95 latency is high.',
                           'P95 latency of {{ $labels.master }} on {{ $labels.provider }} is {{ $value | humanizeDuration }}.'), forN(c.latencyP95.points))
          + withFor(levels('GatewayQuotaRPM', trim(quota(requests, 'gateway_master_limit_rpm')), '>=', c.quotaRPM,
                           'A master nears its requests-per-minute limit.',
                           'Master {{ $labels.master }} uses {{ $value | humanizePercentage }} of its RPM limit.'), forN(c.quotaRPM.points))
          + withFor(levels('GatewayQuotaTPM', trim(quota(tokens, 'gateway_master_limit_tpm')), '>=', c.quotaTPM,
                           'A master nears its tokens-per-minute limit.',
                           'Master {{ $labels.master }} uses {{ $value | humanizePercentage }} of its TPM limit.'), forN(c.quotaTPM.points))
          + levels('GatewayTrafficSpike', trim(spike), '>', c.trafficSpike,
                   'A master sharply raised its traffic.',
                   'Requests of master {{ $labels.master }} rose {{ $value | humanize }} %% against %s ago.' % c.trafficSpike.offset)
          + withFor(levels('GatewayTrafficSpikeQPS', 'sum(rate(%s[1m]))' % requests, '>', c.trafficQPS,
                           'The gateway serves many requests per second.',
                           'The gateway serves {{ $value | humanize }} requests per second.'), forN(c.trafficQPS.points))
          + withFor(levels('GatewayTrafficSpikeRPM', 'sum by (master) (increase(%s[1m]))' % requests, '>', c.trafficRPM,
                           'A master sent many requests in a minute.',
                           'Master {{ $labels.master }} sent {{ $value | humanize }} requests in the last minute.'), forN(c.trafficRPM.points))
          + withFor(levels('GatewayTrafficSpikeTPM', 'sum by (master) (increase(%s[1m]))' % tokens, '>', c.trafficTPM,
                           'A master used many tokens in a minute.',
                           'Master {{ $labels.master }} used {{ $value | humanize }} tokens in the last minute.'), forN(c.trafficTPM.points))
          + [
            {
              // A master seen within the hour whose usage series vanished,
              // per master rather than absent() of the whole metric.
              alert: 'GatewayNoData',
              expr: 'count by (master) (last_over_time(%s[1h])) unless count by (master) (%s)' % [requests, requests],
              'for': c.noDataFor,
              labels: { severity: 'warning' },
              annotations: {
                summary: 'A master stopped reporting usage.',
                description: 'No usage data from master {{ $labels.master }} for %s.' % c.noDataFor,
              },
            },
            {
              alert: 'GatewayTargetDown',
              expr: 'up%s == 0' % s(),
              'for': c.targetDownFor,
              labels: { severity: 'critical' },
              annotations: {
                summary: 'A gateway target is down.',
                description: 'Prometheus cannot scrape {{ $labels.instance }} of job {{ $labels.job }}.',
              },
            },
          ],
      },
      {
        // ez-api's event alerts, each with its type.
        name: 'gateway-events',
        rules: [
          event('GatewayKeyDisabled', 'gateway_key_enabled%s == 0' % s(), c.keyDisabled.points, 'warning', 'key_disabled',
                'A key is disabled.', 'Key {{ $labels.key }} of master {{ $labels.master }} is disabled.'),
        ] + withFor(levels('GatewayKeyExpiry', '(gateway_key_expires_timestamp_seconds%s - time()) / 86400' % s(), '<=', c.keyExpiryDays,
                           'A key expires soon or has expired.',
                           'Key {{ $labels.key }} of master {{ $labels.master }} {{ if le $value 0.0 }}has expired{{ else }}expires in {{ $value | printf "%.1f" }} days{{ end }}.',
                           { type: 'key_expired' }), forN(1)) + [
          event('GatewayProviderDown', 'gateway_provider_up%s == 0' % s(), c.providerDown.points, 'critical', 'provider_down',
                'An upstream provider is down.', 'Provider {{ $labels.provider }} is down.'),
          event('GatewayRateLimited', '(%s) > %s' % [trim(rateLimited), u.num(c.rateLimited.threshold)], c.rateLimited.points, 'warning', 'rate_limit',
                'The gateway rate-limits a master.',
                'The gateway answers {{ $value | humanizePercentage }} of the requests of master {{ $labels.master }} with 429.'),
          event('GatewayQuotaExceeded', '(%s) >= %s' % [trim(quotaUse), u.num(c.quotaExceeded.threshold)], c.quotaExceeded.points, 'critical', 'quota_exceeded',
                'A master is over its quota.',
                'Master {{ $labels.master }} is over its quota, at {{ $value | humanizePercentage }} of its limit.'),
        ],
      },
      {
        name: 'gateway-plugins',
        rules: [{
          // The pack's hysteresis (resolve below 70 %) has no plain form;
          // keep_firing_for stands for its observation window.
          alert: 'PluginCPUHigh',
          expr: 'gateway_plugin_cpu_usage_ratio%s > %s' % [s(), u.num(c.pluginCPU.threshold)],
          'for': forN(c.pluginCPU.points),
          keep_firing_for: c.pluginCPU.keepFiringFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'A plugin instance runs hot.',
            description: 'Plugin {{ $labels.plugin_id }} instance {{ $labels.instance_id }} of {{ $labels.tenant_id }} runs at {{ $value | humanizePercentage }} CPU.',
          },
        }],
      },
      {
        name: 'gateway-daily',
        rules:
          levels('GatewayTrafficSpikeRPD', 'sum_over_time(master:gateway_requests:increase1m[1d])', '>', c.trafficRPD,
                 'A master sent many requests in a day.',
                 'Master {{ $labels.master }} sent {{ $value | humanize }} requests in the last day.')
          + levels('GatewayTrafficSpikeTPD', 'sum_over_time(master:gateway_tokens:increase1m[1d])', '>', c.trafficTPD,
                   'A master used many tokens in a day.',
                   'Master {{ $labels.master }} used {{ $value | humanize }} tokens in the last day.'),
      },
    ],
  },
}
