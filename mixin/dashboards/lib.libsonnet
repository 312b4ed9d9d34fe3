// A few builders for Grafana's dashboard JSON (schema 39), in place of
// grafonnet: every panel reads the `datasource` variable.
{
  local ds = { type: 'prometheus', uid: '${datasource}' },

  target(expr, legend='', instant=false):: {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
  },

  local withRefs(targets) = [
    targets[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],

  local fieldConfig(unit, thresholds, extra) = {
    defaults: {
      unit: unit,
      thresholds: {
        mode: 'absolute',
        steps: [{ color: 'green', value: null }] + [
          { color: t.color, value: t.value }
          for t in thresholds
        ],
      },
    } + extra,
    overrides: [],
  },

  // timeseries draws the targets; thresholds (a list of {value, color})
  // become dashed lines, as the CPU and budget limits.
  timeseries(title, description, targets, unit='short', thresholds=[], stack=false, w=12):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: ds,
    targets: withRefs(targets),
    w:: w,
    fieldConfig: fieldConfig(unit, thresholds, {
      custom: {
        drawStyle: 'line',
        lineWidth: 1,
        fillOpacity: if stack then 30 else 10,
        stacking: { mode: if stack then 'normal' else 'none' },
        thresholdsStyle: { mode: if thresholds == [] then 'off' else 'dashed' },
      },
    }),
    options: {
      legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  stat(title, description, targets, unit='short', thresholds=[], w=6):: {
    type: 'stat',
    title: title,
    description: description,
    datasource: ds,
    targets: withRefs(targets),
    w:: w,
    fieldConfig: fieldConfig(unit, thresholds, {}),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      textMode: 'auto',
    },
  },

  // stateTimeline shows a 0/1 series as bands, as throttles over time.
  stateTimeline(title, description, targets, w=24):: {
    type: 'state-timeline',
    title: title,
    description: description,
    datasource: ds,
    targets: withRefs(targets),
    w:: w,
    fieldConfig: fieldConfig('short', [{ value: 1, color: 'red' }], { color: { mode: 'thresholds' } }),
    options: { showValue: 'auto', mergeValues: true, rowHeight: 0.9, legend: { displayMode: 'list', placement: 'bottom' } },
  },

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
  },

  // queryVariable lists the values of label in series; All matches any.
  queryVariable(name, label, series):: {
    local q = 'label_values(%s, %s)' % [series, label],
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    definition: q,
    query: { query: q, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: {},
    hide: 0,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.+',
    sort: 1,
    regex: '',
  },

  // dashboard lays the panels out left to right, wrapping at Grafana's 24
  // columns, and numbers them.
  dashboard(c, uid, title, description, variables, panels):: {
    local placed = std.foldl(
      function(acc, p)
        local x = if acc.x + p.w > 24 then 0 else acc.x;
        local y = if acc.x + p.w > 24 then acc.y + 8 else acc.y;
        acc {
          x: x + p.w,
          y: y,
          out+: [p { id: std.length(acc.out) + 1, gridPos: { x: x, y: y, w: p.w, h: 8 } }],
        },
      panels,
      { x: 0, y: 0, out: [] },
    ),
    uid: c.dashboardUIDPrefix + uid,
    title: title,
    description: description,
    tags: c.dashboardTags,
    editable: true,
    graphTooltip: 1,
    refresh: c.dashboardRefresh,
    timezone: c.dashboardTimezone,
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    templating: { list: [$.datasourceVariable] + variables },
    annotations: { list: [] },
    links: [],
    panels: placed.out,
  },
}
