// Everything an operator tunes: selectors, job names, thresholds. The
// gateway thresholds mirror the built-in rule pack (rules/builtin/gateway.yml);
// mixin_test.go fails when the two disagree, so change both together.
{
  _config+:: {
    // Selectors of the gateway's and gatewarden's series in the central
    // Prometheus; an empty selector matches every job.
    gatewaySelector: 'job=~".*gateway.*"',
    gatewardenSelector: 'job=~".*gatewarden.*"',

    // The central Prometheus's evaluation interval: `for` stands for the
    // pack's window of N consecutive evaluations, (N-1) intervals.
    evaluationInterval: 30,  // seconds

    // Grafana.
    dashboardTags: ['gatewarden'],
    dashboardUIDPrefix: 'gatewarden-',
    dashboardRefresh: '30s',
    dashboardTimezone: 'utc',

    // Gateway alerts (the built-in pack's thresholds).
    budgetSteps: [0.5, 0.75, 0.9, 1.0],
    errorRate: { warning: 0.05, critical: 0.2, minRequests: 20, points: 3 },
    latencyP95: { warning: 15, critical: 30, points: 3 },
    quotaRPM: { warning: 0.8, critical: 0.95, points: 2 },
    quotaTPM: { warning: 0.8, critical: 0.95, points: 2 },
    // Per cent rise of requests per minute against minutes ago, for masters
    // with at least minRPM requests per minute.
    trafficSpike: { warning: 100, critical: 200, minRPM: 30, offset: '3m' },
    trafficQPS: { warning: 500, critical: 1000, points: 2 },
    trafficRPM: { warning: 600, critical: 1200, points: 2 },
    trafficTPM: { warning: 1000000, critical: 2000000, points: 2 },
    trafficRPD: { warning: 100000, critical: 200000 },
    trafficTPD: { warning: 100000000, critical: 200000000 },
    noDataFor: '3m',
    targetDownFor: '1m',
    pluginCPU: { threshold: 0.8, points: 3, keepFiringFor: '1m' },
    // ez-api's event alerts; key expiry in days left.
    keyDisabled: { points: 2 },
    keyExpiryDays: { warning: 7, critical: 0 },
    providerDown: { points: 2 },
    rateLimited: { threshold: 0.1, minRequests: 10, points: 2 },
    quotaExceeded: { threshold: 1, points: 2 },

    // gatewarden's own alerts.
    scrapeFailureRatio: 0.5,
    outboxBacklog: 100,  // notifications waiting
    outboxOldestAge: 600,  // seconds the oldest waiting notification may wait
  },
}
