local g = import 'lib.libsonnet';

{
  local c = $._config,
  local sel = '{job=~"$job", instance=~"$instance", master=~"$master"}',
  local selCode(code) = '{job=~"$job", instance=~"$instance", master=~"$master", code=~"%s"}' % code,
  // The recordings aggregate instances away.
  local rec = '{job=~"$job", master=~"$master"}',
  local rate(m, s=sel) = 'rate(%s%s[$__rate_interval])' % [m, s],
  local levels(t) = [{ value: t.warning, color: 'orange' }, { value: t.critical, color: 'red' }],

  grafanaDashboards+:: {
    'gateway-usage.json': g.dashboard(c, 'gateway-usage', 'Gateway usage',
                                      'Requests, tokens, spend against budget, errors, latency and quotas of the LLM gateway, per master, provider and model.', [
      g.queryVariable('job', 'job', 'gateway_requests_total'),
      g.queryVariable('instance', 'instance', 'gateway_requests_total{job=~"$job"}'),
      g.queryVariable('master', 'master', 'gateway_requests_total{job=~"$job", instance=~"$instance"}'),
    ], [
      g.stat('Requests', 'Requests per second the gateway answers, all codes.',
             [g.target('sum(%s)' % rate('gateway_requests_total'))], 'reqps'),
      g.stat('Tokens', 'Tokens per second consumed, input and output.',
             [g.target('sum(%s)' % rate('gateway_tokens_total'))], 'short'),
      g.stat('5xx ratio', 'Share of requests answered with a 5xx code.',
             [g.target('sum(%s) / sum(%s)' % [rate('gateway_requests_total', selCode('5..')), rate('gateway_requests_total')])],
             'percentunit', levels(c.errorRate)),
      g.stat('Spend', 'Spend in US dollars per hour at the current rate.',
             [g.target('sum(%s) * 3600' % rate('gateway_spend_usd_total'))], 'currencyUSD'),
      g.timeseries('Requests by master', 'Requests per second, per master key.',
                   [g.target('sum by (master) (%s)' % rate('gateway_requests_total'), '{{master}}')], 'reqps', stack=true),
      g.timeseries('Requests by code', 'Requests per second, per HTTP answer code.',
                   [g.target('sum by (code) (%s)' % rate('gateway_requests_total'), '{{code}}')], 'reqps', stack=true),
      g.timeseries('Tokens by master and direction', 'Tokens per second, input and output, per master key.',
                   [g.target('sum by (master, direction) (%s)' % rate('gateway_tokens_total'), '{{master}} {{direction}}')], 'short'),
      g.timeseries('Spend against budget', "Spend of the period as a share of each master's budget; the dashed lines are the budget steps alerted on.",
                   [g.target('job_master:gateway_budget_spent:ratio%s' % rec, '{{master}} ({{period}})')], 'percentunit',
                   [{ value: v, color: if v >= 1 then 'red' else 'orange' } for v in c.budgetSteps]),
      g.timeseries('5xx ratio by master', 'Share of requests answered with 5xx over 5 minutes, per master; dashed: the warning and critical thresholds.',
                   [g.target('job_master:gateway_requests_errors:ratio_rate5m%s' % rec, '{{master}}')], 'percentunit', levels(c.errorRate)),
      g.timeseries('P95 latency by master, provider and model', 'The 95th percentile of upstream request latency over 5 minutes; dashed: the alert thresholds.',
                   [g.target('job_master_provider_model:gateway_request_duration_seconds:p95_rate5m%s' % rec, '{{master}} {{provider}} {{model}}')], 's', levels(c.latencyP95)),
      g.timeseries('Quota usage', "Requests and tokens per minute as a share of each master's RPM and TPM limits; dashed: the alert thresholds.", [
        g.target('job_master:gateway_quota_rpm_used:ratio_rate1m%s' % rec, '{{master}} RPM'),
        g.target('job_master:gateway_quota_tpm_used:ratio_rate1m%s' % rec, '{{master}} TPM'),
      ], 'percentunit', levels(c.quotaRPM)),
      g.timeseries('Requests by provider and model', 'Requests per second, per upstream provider and model.',
                   [g.target('sum by (provider, model) (%s)' % rate('gateway_requests_total'), '{{provider}} {{model}}')], 'reqps'),
    ]),
  },
}
