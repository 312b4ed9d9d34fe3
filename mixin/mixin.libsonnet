// gatewarden's monitoring mixin: alerts, recording rules and Grafana
// dashboards for a central Prometheus and Grafana. Override _config to
// adapt selectors and thresholds:
//   (import 'mixin.libsonnet') + { _config+:: { gatewaySelector: 'job="ez-api"' } }
(import 'config.libsonnet') +
(import 'alerts/gateway.libsonnet') +
(import 'alerts/gatewarden.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/gateway-usage.libsonnet') +
(import 'dashboards/alerts.libsonnet') +
(import 'dashboards/throttle.libsonnet')
