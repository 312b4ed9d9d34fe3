// Recording rules: the built-in pack's per-minute counts (its daily alerts
// read them) and the dashboards' heavier queries, evaluated once instead of
// at every panel refresh. The dashboard recordings keep job so that the
// dashboards' job variable filters them.
local u = import '../lib/utils.libsonnet';

{
  local c = $._config,
  local s(extra=[]) = u.sel(c.gatewaySelector, extra),

  prometheusRules+:: {
    groups+: [
      {
        name: 'gateway-daily.rules',
        interval: '1m',
        rules: [
          { record: 'master:gateway_requests:increase1m', expr: 'sum by (master) (increase(gateway_requests_total%s[1m]))' % s() },
          { record: 'master:gateway_tokens:increase1m', expr: 'sum by (master) (increase(gateway_tokens_total%s[1m]))' % s() },
        ],
      },
      {
        name: 'gateway-dashboards.rules',
        rules: [
          {
            record: 'job_master:gateway_requests_errors:ratio_rate5m',
            expr: |||
              sum by (job, master) (rate(gateway_requests_total%s[5m]))
                / sum by (job, master) (rate(gateway_requests_total%s[5m]))
            ||| % [s(['code=~"5.."']), s()],
          },
          {
            record: 'job_master_provider_model:gateway_request_duration_seconds:p95_rate5m',
            expr: |||
              histogram_quantile(0.95,
                sum by (le, job, master, provider, model) (rate(gateway_request_duration_seconds_bucket%s[5m])))
            ||| % s(),
          },
          {
            record: 'job_master:gateway_budget_spent:ratio',
            expr: |||
              sum by (job, master) (gateway_spend_usd_total%s)
                / on (job, master) group_left (period) max by (job, master, period) (gateway_master_budget_usd%s)
            ||| % [s(), s()],
          },
          {
            record: 'job_master:gateway_quota_rpm_used:ratio_rate1m',
            expr: |||
              sum by (job, master) (rate(gateway_requests_total%s[1m])) * 60
                / on (job, master) max by (job, master) (gateway_master_limit_rpm%s)
            ||| % [s(), s()],
          },
          {
            record: 'job_master:gateway_quota_tpm_used:ratio_rate1m',
            expr: |||
              sum by (job, master) (rate(gateway_tokens_total%s[1m])) * 60
                / on (job, master) max by (job, master) (gateway_master_limit_tpm%s)
            ||| % [s(), s()],
          },
        ],
      },
    ],
  },
}
