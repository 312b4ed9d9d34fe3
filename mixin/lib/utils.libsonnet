{
  // sel builds a label matcher list from a configured selector (which may
  // be empty) and further matchers, so that an empty selector never leaves
  // a dangling comma.
  sel(base, extra=[]):: '{' + std.join(', ', std.filter(function(s) s != '', [base] + extra)) + '}',

  // forPoints is how long a condition has to hold over `points`
  // consecutive evaluations at `interval` seconds.
  forPoints(points, interval):: '%ds' % ((points - 1) * interval),

  // num writes a threshold as PromQL and people write it: jsonnet's own
  // conversion gives 17 significant digits (0.90000000000000002).
  num(x):: if std.floor(x) == x then '%d' % x else '%g' % x,
}
