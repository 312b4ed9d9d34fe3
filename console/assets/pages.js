// The console's pages: each has a title, a skeleton (filters and empty
// containers, drawn once per visit), load (fetch and fill the containers,
// run every few seconds) and the actions its buttons name.
"use strict";

(() => {
  const { pages, get, write, esc, setHTML, canWrite, operator, $ } = GW;

  // --- shared markup ---------------------------------------------------

  function when(unix) {
    if (!unix) return "—";
    const d = new Date(unix * 1000);
    return `<time datetime="${d.toISOString()}" title="${esc(d.toLocaleString())}">${esc(ago(unix))}</time>`;
  }

  function ago(unix) {
    const s = Math.round(Date.now() / 1000 - unix);
    const abs = Math.abs(s);
    const span = abs < 60 ? abs + "s" : abs < 3600 ? Math.floor(abs / 60) + "m" : abs < 86400
      ? Math.floor(abs / 3600) + "h " + Math.floor((abs % 3600) / 60) + "m" : Math.floor(abs / 86400) + "d";
    return s >= 0 ? span + " ago" : "in " + span;
  }

  const isoUnix = (iso) => (iso && !iso.startsWith("0001") ? Date.parse(iso) / 1000 : 0);
  const badge = (cls, text) => `<span class="badge ${esc(cls)}">${esc(text ?? cls)}</span>`;

  function labels(obj) {
    const keys = Object.keys(obj || {}).sort();
    if (!keys.length) return "";
    return `<div class="labels">${keys.map((k) => `<span>${esc(k)}="${esc(obj[k])}"</span>`).join("")}</div>`;
  }

  function table(heads, rows, empty) {
    if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
    return `<table><thead><tr>${heads.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr></thead>` +
      `<tbody>${rows.join("")}</tbody></table>`;
  }

  const cards = (items) => `<div class="cards">${items.map(([label, value, id]) =>
    `<div class="card"${id ? ` id="${esc(id)}"` : ""}><b>${esc(value)}</b><span>${esc(label)}</span></div>`).join("")}</div>`;

  function button(action, text, data, cls) {
    if (!canWrite()) return "";
    const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join("");
    return `<button type="button" data-action="${action}"${attrs}${cls ? ` class="${cls}"` : ""}>${esc(text)}</button>`;
  }

  function select(name, label, options, value) {
    return `<label>${esc(label)}<select name="${name}">${options.map(([v, t]) =>
      `<option value="${esc(v)}"${v === value ? " selected" : ""}>${esc(t)}</option>`).join("")}</select></label>`;
  }

  const input = (name, label, value, placeholder) =>
    `<label>${esc(label)}<input name="${name}" value="${esc(value)}" placeholder="${esc(placeholder)}"></label>`;

  const field = (name) => ($(`form.filters [name="${name}"]`) || {}).value || "";

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  // --- alerts ----------------------------------------------------------

  // matchLabels applies "k=v, k!=v, word" filters: pairs on exact values,
  // words on any label value.
  function matchLabels(ls, filter) {
    return filter.split(",").map((t) => t.trim()).filter(Boolean).every((term) => {
      const m = term.match(/^([^!=]+)(!?=)(.*)$/);
      if (!m) return Object.values(ls || {}).some((v) => v.includes(term));
      const v = (ls || {})[m[1].trim()] ?? "";
      return m[2] === "=" ? v === m[3].trim() : v !== m[3].trim();
    });
  }

  // value prints the evaluator's sample readably: 0.4727, not 4.727e-01.
  function value(v) {
    const n = Number(v);
    if (v === undefined || v === null || v === "" || !Number.isFinite(n)) return v ?? "—";
    return Math.abs(n) >= 1e6 || (n !== 0 && Math.abs(n) < 1e-3) ? n.toExponential(3) : String(+n.toPrecision(4));
  }

  const labelKey = (ls) => JSON.stringify(Object.keys(ls || {}).sort().map((k) => [k, ls[k]]));

  pages.alerts = {
    title: "Alerts",
    skeleton: (q) => `<h1>Alerts</h1><div id="stats"></div>
      <form class="filters" aria-label="Filter alerts">
        ${select("status", "Status", [["open", "open (active + acknowledged)"], ["active", "active"], ["acknowledged", "acknowledged"],
          ["resolved", "resolved"], ["dismissed", "dismissed"], ["", "all but dismissed"]], q.get("status") ?? "open")}
        ${select("severity", "Severity", [["", "any"], ["critical", "critical"], ["warning", "warning"], ["info", "info"]], q.get("severity") || "")}
        ${input("type", "Type", q.get("type") || "", "e.g. cpu_anomaly")}
        ${input("label", "Labels", q.get("label") || "", "master=m1, i1")}
        <button type="submit">Apply</button>
      </form><div id="alerts"></div>`,

    async load() {
      const status = field("status");
      const [stats, list, live] = await Promise.all([
        get("/admin/alerts/stats"),
        get("/admin/alerts" + query({ status: status === "open" ? "" : status, severity: field("severity"), type: field("type"), limit: 200 })),
        get("/api/v1/alerts").catch(() => null),
      ]);
      setHTML($("#stats"), cards([["active", stats.active, "stat-active"], ["acknowledged", stats.acknowledged, "stat-acknowledged"],
        ["resolved", stats.resolved], ["critical", stats.critical], ["warning", stats.warning], ["info", stats.info]]));
      // The store keeps the lifecycle, the evaluator the current value.
      const values = new Map(((live && live.data && live.data.alerts) || []).map((a) => [labelKey(a.labels), a.value]));
      const filter = field("label");
      // The API lists dismissed alerts too, as ez-api's does.
      const items = list.items.filter((a) =>
        (status !== "open" || a.status === "active" || a.status === "acknowledged") &&
        (status !== "" || a.status !== "dismissed") && matchLabels(a.labels, filter));
      const groups = ["critical", "warning", "info"].map((sev) => {
        const rows = items.filter((a) => a.severity === sev).map((a) => alertRow(a, values.get(labelKey(a.labels))));
        if (!rows.length) return "";
        return `<section class="sev" aria-label="${sev}"><h2>${esc(sev[0].toUpperCase() + sev.slice(1))}${badge(sev, rows.length)}</h2>` +
          table(["Alert", "Value", "Since", "Status", ""], rows, "") + "</section>";
      });
      const more = list.total > list.items.length ? `<p class="empty">Showing the newest ${list.items.length} of ${list.total}.</p>` : "";
      setHTML($("#alerts"), groups.join("") + more || `<p class="empty">No alerts match.</p>`);
    },

    actions: {
      ack: (d) => {
        const by = operator("acknowledge");
        if (by) write("POST", `/admin/alerts/${d.id}/ack`, { acked_by: by }, `Alert #${d.id} acknowledged by ${by}.`);
      },
      resolve: (d) => write("POST", `/admin/alerts/${d.id}/resolve`, undefined, `Alert #${d.id} resolved.`),
      dismiss: (d) => write("DELETE", `/admin/alerts/${d.id}`, undefined, `Alert #${d.id} dismissed.`),
    },
  };

  // detail is what the evaluator wrote in an alert's metadata (value,
  // threshold, window), null for an alert from elsewhere.
  function detail(a) {
    try {
      const m = JSON.parse(a.metadata || "null");
      return m && (m.value !== undefined || m.threshold !== undefined) ? m : null;
    } catch (e) {
      return null;
    }
  }

  // threshold is the detail's threshold and window under the value.
  function threshold(d) {
    if (!d || d.threshold === undefined) return "";
    return `<div class="empty threshold">threshold ${esc(value(d.threshold))}${d.window ? ` over ${esc(d.window)}` : ""}</div>`;
  }

  function alertRow(a, current) {
    const open = a.status === "active" || a.status === "acknowledged";
    const acked = a.acked_by ? `<div class="empty">by ${esc(a.acked_by)} ${when(a.acked_at)}</div>` : "";
    const d = detail(a);
    const actions = (a.status === "active" ? button("ack", "Acknowledge", { id: a.id }) : "") +
      (open ? button("resolve", "Resolve", { id: a.id }) : "") +
      (a.status !== "dismissed" ? button("dismiss", "Dismiss", { id: a.id }, "danger") : "");
    return `<tr id="alert-${a.id}" data-fingerprint="${esc(a.fingerprint)}"><td><b>${esc(a.title)}</b> <span class="mono">${esc(a.type)}</span>` +
      `${a.message && a.message !== a.title ? `<div>${esc(a.message)}</div>` : ""}${labels(a.labels)}</td>` +
      `<td class="mono">${esc(value(current ?? (d && d.value)))}${threshold(d)}</td><td>${when(a.created_at)}</td>` +
      `<td class="status">${badge(a.status)}${acked}</td><td class="actions">${actions}</td></tr>`;
  }

  // --- deliveries ------------------------------------------------------

  pages.deliveries = {
    title: "Deliveries",
    skeleton: (q) => `<h1>Deliveries</h1><div id="backlog"></div>
      <form class="filters" aria-label="Filter deliveries">
        ${select("status", "Status", [["", "any"], ["sent", "sent"], ["failed", "failed"], ["suppressed", "suppressed"]], q.get("status") || "")}
        ${input("alert_id", "Alert id", q.get("alert_id") || "", "e.g. 12")}
        <button type="submit">Apply</button>
      </form>
      <h2>Per alert and channel</h2><div id="per-channel"></div>
      <h2>Undelivered notifications</h2><div id="outbox"></div>
      <h2>History</h2><div id="history"></div>`,

    async load() {
      const [hist, pending, failed, channels, alerts] = await Promise.all([
        get("/admin/alert-history" + query({ status: field("status"), alert_id: field("alert_id"), limit: 200 })),
        get("/admin/outbox?state=pending"),
        get("/admin/outbox?state=failed"),
        get("/admin/alert-channels").catch(() => null),
        get("/admin/alerts?limit=200"),
      ]);
      const chanName = new Map(((channels && channels.items) || channels || []).map((c) => [c.id, c.name]));
      const alertTitle = new Map(alerts.items.map((a) => [a.id, a.title]));
      // A grouped notification names its group rather than one alert.
      const alertCell = (id, group) => (id ? `#${id} ${esc(alertTitle.get(id) || "")}` : group ? `<span class="mono">${esc(group)}</span>` : "—");
      const chanCell = (id) => (id ? `${esc(chanName.get(id) || "channel")} <span class="mono">#${id}</span>` : "—");
      setHTML($("#backlog"), cards([["pending", pending.pending, "outbox-pending"], ["sending", pending.sending],
        ["failed", pending.failed, "outbox-failed"], ["oldest pending", pending.oldest_pending_at ? ago(pending.oldest_pending_at) : "—"]]));
      const queued = [...failed.items, ...pending.items].sort((a, b) => b.id - a.id);
      setHTML($("#per-channel"), table(["Alert", "Channel", "Last", "Sent", "Failed", "Suppressed", "Attempts", "Last error"],
        perChannel(hist.items, pending.items).map((g) => `<tr><td>${alertCell(g.alert_id, g.group)}</td><td>${chanCell(g.channel_id)}</td>` +
          `<td>${g.retrying ? badge("pending", "retrying") : badge(g.last.status)} ${when(g.last.triggered_at)}</td><td>${g.sent}</td><td>${g.failed}</td>` +
          `<td>${g.suppressed}</td><td>${g.attempts}</td><td class="error">${esc(g.error)}</td></tr>`), "No notifications yet."));
      setHTML($("#outbox"), table(["Item", "Alert", "Channel", "State", "Attempts", "Next attempt", "Last error"],
        queued.map((o) => `<tr><td class="mono">#${o.id}</td><td>${alertCell(o.alert_id, groupOf(o.group_key))}</td><td>${chanCell(o.channel_id)}</td>` +
          `<td>${badge(o.state)}</td><td>${o.attempts}</td><td>${o.state === "pending" ? when(o.next_attempt_at) : "—"}</td>` +
          `<td class="error">${esc(o.last_error)}</td></tr>`), "The outbox is empty: everything was delivered."));
      // One entry per state change (fired, resolved) of an alert and channel.
      setHTML($("#history"), table(["When", "Alert", "Change", "Channel", "Status", "Attempt", "Error"],
        hist.items.map((h) => `<tr><td>${when(h.triggered_at)}</td><td>${alertCell(h.alert_id, group(h))}</td>` +
          `<td>${esc(h.transition || "—")}</td><td>${chanCell(h.channel_id)}</td>` +
          `<td>${badge(h.status)}</td><td>${h.attempt}</td><td class="error">${esc(h.error)}</td></tr>`), "No deliveries match."));
    },
  };

  // group is the route group a history entry notified, without the route's
  // own matchers in front.
  const groupOf = (key) => (key || "").replace(/^\{[^}]*\}:/, "");
  const group = (h) => groupOf(h.payload && h.payload.groupKey);

  // perChannel folds the history (newest first) into one row per alert and
  // channel, and the notifications still being retried into one per group
  // and channel: the history has a state change's outcome only.
  function perChannel(items, retrying) {
    const groups = new Map();
    const row = (key, init) => {
      let g = groups.get(key);
      if (!g) {
        g = { sent: 0, failed: 0, suppressed: 0, attempts: 0, error: "", ...init };
        groups.set(key, g);
      }
      return g;
    };
    for (const o of retrying) {
      const g = row(groupOf(o.group_key) + "/" + o.channel_id,
        { group: groupOf(o.group_key), channel_id: o.channel_id, last: { triggered_at: o.updated_at }, retrying: true });
      g.attempts = Math.max(g.attempts, o.attempts);
      if (!g.error && o.last_error) g.error = o.last_error;
    }
    for (const h of items) {
      const g = row((h.alert_id || group(h)) + "/" + h.channel_id, { alert_id: h.alert_id, group: group(h), channel_id: h.channel_id, last: h });
      g[h.status] = (g[h.status] || 0) + 1;
      g.attempts = Math.max(g.attempts, h.attempt || 0);
      if (!g.error && h.error) g.error = h.error;
    }
    return [...groups.values()];
  }

  // --- throttles -------------------------------------------------------

  // kind names what an audit record did, in the operator's words.
  function kind(r) {
    if (r.result === "failed" || r.error) return "failed";
    if ((r.action === "apply" || r.action === "step") && r.result === "ok") return "throttled";
    if (r.action === "renew" && r.result === "ok") return "renewed";
    if ((r.action === "release" && r.result === "ok") || r.action === "expire") return "released";
    return "decision";
  }

  const instance = (t) => `${esc(t.tenant_id)} / ${esc(t.plugin_id)} / <b>${esc(t.instance_id)}</b>`;

  pages.throttles = {
    title: "Throttles",
    skeleton: (q) => `<h1>Throttles</h1>
      <div id="automation" role="status"></div>
      <h2>Active</h2><div id="active"></div>
      <form class="filters" aria-label="Filter the timeline">
        ${input("instance_id", "Instance", q.get("instance_id") || "", "e.g. i1")}
        <button type="submit">Apply</button>
      </form>
      <h2>Timeline</h2><div id="timeline"></div>`,

    async load() {
      let active;
      try {
        active = await get("/admin/throttles");
      } catch (e) {
        if (e.status !== 404) throw e;
        setHTML($("#active"), `<p class="empty">${esc(e.message)}</p>`);
        setHTML($("#timeline"), "");
        return;
      }
      const auto = await get("/admin/throttles/automation");
      setHTML($("#automation"), auto.enabled
        ? `<p>Automation <b>on</b>: anomalies are throttled. ${button("disable", "Disable automation", {}, "danger")}</p>`
        : `<p class="error">Automation <b>off</b> since ${when(auto.changed_at)}, by ${esc(auto.changed_by)}: ${esc(auto.reason)}. ` +
          `Anomalies are alerts only. ${button("enable", "Enable automation", {})}</p>`);
      const hist = await get("/admin/throttles/history" + query({ instance_id: field("instance_id"), limit: 100 }));
      setHTML($("#active"), table(["Instance", "State", "Max concurrency", "CPU", "Reason", "Decided", "Expires", ""],
        active.items.map((t) => `<tr id="throttle-${t.id}"><td>${instance(t)}</td><td>${badge(t.state)}</td>` +
          `<td>${t.previous_max_concurrency || "?"} → ${t.max_concurrency || "?"}</td><td>${t.cpu ? t.cpu.toFixed(2) : "—"}</td>` +
          `<td>${esc(t.reason)}${t.last_error ? `<div class="error">${esc(t.last_error)}</div>` : ""}</td>` +
          `<td>${when(isoUnix(t.decided_at))}</td><td>${when(isoUnix(t.expires_at))}</td><td class="actions">` +
          `<a data-nav href="/throttles?instance_id=${encodeURIComponent(t.instance_id)}">audit</a> ` +
          button("release", "Release", { id: t.id }) + button("falsePositive", "False positive", { id: t.id }, "danger") +
          "</td></tr>"), "No instance is throttled."));
      setHTML($("#timeline"), table(["When", "Instance", "What", "Action", "Result", "Limit", "By", "Error"],
        hist.items.map((r) => {
          const d = r.decision || {};
          return `<tr id="audit-${r.id}"><td><a href="#audit-${r.id}">${when(r.created_at)}</a></td><td>${r.instance_id ? instance(r) : "—"}</td>` +
            `<td>${badge(kind(r))}</td><td class="mono">${esc(r.action)}</td><td class="mono">${esc(r.result)}</td>` +
            `<td>${esc(d.max_concurrency ?? "")}</td><td>${esc(d.actor ?? "")}</td><td class="error">${esc(r.error)}</td></tr>`;
        }), "No throttle decisions yet."));
    },

    actions: {
      // The kill switch asks twice: it releases every automated throttle.
      disable: () => {
        const by = operator("disable the automation");
        if (!by) return;
        const reason = prompt("Disable the auto-throttle: every throttle it applied is released and anomalies become alerts only. Why?");
        if (reason && reason.trim() && confirm(`Disable the automation and release its throttles, as ${by}: "${reason.trim()}"?`)) {
          write("PUT", "/admin/throttles/automation", { enabled: false, reason: reason.trim(), by }, `Automation disabled by ${by}.`);
        }
      },
      enable: () => {
        const by = operator("enable the automation");
        if (by && confirm(`Enable the automation again, as ${by}? Firing anomalies will be throttled.`)) {
          write("PUT", "/admin/throttles/automation", { enabled: true, by }, `Automation enabled by ${by}.`);
        }
      },
      release: (d) => {
        const by = operator("release a throttle");
        if (by) write("POST", `/admin/throttles/${d.id}/release`, { by }, `Throttle #${d.id}: release requested by ${by}.`);
      },
      falsePositive: (d) => {
        const by = operator("report a false positive");
        if (by) write("POST", `/admin/throttles/${d.id}/feedback`, { by, false_positive: true }, `Throttle #${d.id} reported as a false positive.`);
      },
    },
  };

  // --- graph: an expression's current value ----------------------------

  // pages.graph is where an alert's generatorURL leads, as Prometheus's
  // /graph?g0.expr=…&g0.tab=1 does: the rule's expression and what it
  // returns now, one row per series.
  pages.graph = {
    title: "Expression",
    skeleton: (q) => `<h1>Expression</h1>
      <form class="filters" aria-label="Expression">
        <label class="wide">Expression<input name="g0.expr" class="mono" value="${esc(q.get("g0.expr") || "")}" placeholder="e.g. up == 0"></label>
        <button type="submit">Execute</button>
      </form><div id="result"></div>`,

    async load() {
      const expr = field("g0.expr").trim();
      const addr = "/graph" + query({ "g0.expr": expr, "g0.tab": expr ? "1" : "" });
      if (location.pathname + location.search !== addr) history.replaceState(null, "", addr);
      if (!expr) return setHTML($("#result"), `<p class="empty">Enter an expression.</p>`);
      let res;
      try {
        res = await get("/api/v1/query" + query({ query: expr }));
      } catch (e) {
        if (e.status === 400 || e.status === 422) return setHTML($("#result"), `<p class="error">${esc(e.message)}</p>`);
        throw e;
      }
      const d = res.data;
      const rows = d.resultType === "vector"
        ? d.result.map((r) => `<tr><td class="mono">${labels(r.metric) || "{}"}</td><td class="mono">${esc(r.value[1])}</td></tr>`)
        : [`<tr><td class="mono">${esc(d.resultType)}</td><td class="mono">${esc(String(d.result[1]))}</td></tr>`];
      setHTML($("#result"), table(["Series", "Value"], rows, "The expression returns no series now."));
    },
  };

  // --- rules and targets -------------------------------------------------

  const worst = (rules) => ["firing", "pending"].find((s) => rules.some((r) => r.state === s)) || "inactive";

  pages.rules = {
    title: "Rules and targets",
    skeleton: () => `<h1>Rules and targets</h1><h2>Rule groups</h2><div id="groups"></div><h2>Scrape targets</h2><div id="targets"></div>`,

    async load() {
      const [rules, targets] = await Promise.all([get("/api/v1/rules"), get("/api/v1/targets")]);
      setHTML($("#groups"), table(["Group", "State", "Rules", "Interval", "Last evaluation", "Took", "Problems"],
        rules.data.groups.map((g) => {
          const bad = g.rules.filter((r) => r.health === "err");
          const firing = g.rules.filter((r) => r.state === "firing").map((r) => r.name);
          return `<tr><td><b>${esc(g.name)}</b><div class="mono">${esc(g.file)}</div></td>` +
            `<td>${g.rules.some((r) => r.type === "alerting") ? badge(worst(g.rules)) : badge("ok", "recording")}` +
            `${firing.length ? `<div class="empty">${esc(firing.join(", "))}</div>` : ""}</td><td>${g.rules.length}</td><td>${g.interval}s</td>` +
            `<td>${when(isoUnix(g.lastEvaluation))}</td><td>${(g.evaluationTime * 1000).toFixed(1)} ms</td>` +
            `<td class="error">${bad.map((r) => esc(r.name + ": " + r.lastError)).join("<br>")}</td></tr>`;
        }), "No rule groups are loaded."));
      setHTML($("#targets"), table(["Job", "Endpoint", "Health", "Last scrape", "Took", "Last error"],
        targets.data.activeTargets.map((t) => `<tr><td>${esc(t.scrapePool)}</td><td class="mono">${esc(t.scrapeUrl)}${labels(t.labels)}</td>` +
          `<td>${badge(t.health)}</td><td>${when(isoUnix(t.lastScrape))}</td><td>${((t.lastScrapeDuration || 0) * 1000).toFixed(1)} ms</td>` +
          `<td class="error">${esc(t.lastError)}</td></tr>`), "No scrape targets."));
    },
  };
})();
