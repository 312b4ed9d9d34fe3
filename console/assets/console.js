// gatewarden status console: the session (token, role, operator name), the
// API client, the router and the refresh loop. The pages are in pages.js.
"use strict";

const GW = (() => {
  const REFRESH_MS = 5000;
  const store = window.sessionStorage;
  const session = {
    token: store.getItem("gw.token") || "",
    operator: store.getItem("gw.operator") || "",
    role: "",
  };
  const pages = {};
  let current = null;
  let timer = null;
  let loading = false;
  let again = false;

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const $ = (sel) => document.querySelector(sel);

  // esc makes any value safe to put in markup: labels and errors come from
  // the gateway and the outside world.
  function esc(v) {
    return String(v ?? "").replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  async function request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (session.token) headers.Authorization = "Bearer " + session.token;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, "gatewarden is unreachable (" + e.message + ")");
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* a plain-text error */ }
    if (!resp.ok) {
      throw new APIError(resp.status, (data && data.error) || text.trim() || resp.statusText);
    }
    return data;
  }

  const get = (path) => request("GET", path);

  // write runs a change and says how it went; a 403 means the token was
  // read-only all along (or became so at a reload).
  async function write(method, path, body, done) {
    try {
      const out = await request(method, path, body);
      notify(done);
      refresh();
      return out;
    } catch (e) {
      if (e.status === 401) return signOut("Wrong token: gatewarden no longer accepts it. Sign in again.");
      if (e.status === 403) {
        notify("Not allowed: this token is read-only; it may look but not change anything. (" + e.message + ")", true);
        await checkRole();
      } else {
        notify("Failed: " + e.message, true);
      }
      return null;
    }
  }

  function notify(msg, isError) {
    const n = $("#notice");
    n.textContent = msg;
    n.className = isError ? "error" : "";
    n.hidden = !msg;
  }

  function canWrite() { return session.role === "admin"; }

  // operator is who acts, for acks and releases; asked for, not guessed.
  function operator(action) {
    const name = session.operator.trim();
    if (!name) {
      notify("Enter your name (top right) to " + action + ".", true);
      $("#operator").focus();
    }
    return name;
  }

  function setHTML(el, html) {
    // Assigning only what changed keeps focus and scroll where they were
    // between refreshes.
    if (el && el.dataset.html !== html) {
      el.innerHTML = html;
      el.dataset.html = html;
    }
  }

  async function signIn(token) {
    session.token = token;
    try {
      const me = await get("/admin/whoami");
      session.role = me.role;
      if (token) store.setItem("gw.token", token);
      return true;
    } catch (e) {
      session.token = "";
      store.removeItem("gw.token");
      if (e.status === 401) {
        showLogin(token ? "Wrong token: gatewarden did not accept it. Check it and try again." : "");
      } else {
        showLogin("Cannot sign in: " + e.message);
      }
      return false;
    }
  }

  // checkRole follows a role changed at a reload: the buttons a token may
  // no longer use go away.
  async function checkRole() {
    try {
      session.role = (await get("/admin/whoami")).role;
    } catch (_) { return; }
    showBadge();
    refresh();
  }

  function signOut(msg) {
    session.token = "";
    session.role = "";
    store.removeItem("gw.token");
    showLogin(msg || "");
    return null;
  }

  function showLogin(err) {
    clearTimeout(timer);
    $("#page").hidden = true;
    $("#session").hidden = true;
    $("#login").hidden = false;
    const le = $("#login-error");
    le.textContent = err;
    le.hidden = !err;
    $("#token").value = "";
    $("#token").focus();
  }

  function showApp() {
    $("#login").hidden = true;
    $("#session").hidden = false;
    $("#page").hidden = false;
    showBadge();
    route();
  }

  function showBadge() {
    const role = $("#role");
    role.textContent = canWrite() ? "admin" : "read-only";
    role.className = "badge " + (canWrite() ? "ok" : "pending");
    role.title = canWrite() ? "this token may change alerts and throttles" : "this token may look but not change anything";
  }

  // route draws the page the address names: a fresh skeleton (filters,
  // containers), then its data.
  function route() {
    const name = location.pathname.replace(/^\/+/, "") || "alerts";
    current = pages[name] || null;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.page === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = $("#page");
    if (!current) {
      main.innerHTML = "<h1>Page not found</h1>";
      return;
    }
    document.title = current.title + " · gatewarden";
    main.innerHTML = current.skeleton(new URLSearchParams(location.search));
    delete main.dataset.html;
    refresh();
  }

  function navigate(href) {
    history.pushState(null, "", href);
    notify("");
    route();
    $("#page").focus();
  }

  async function refresh() {
    clearTimeout(timer);
    if (!current) return;
    if (loading) {
      again = true; // after a write: show its effect as soon as this load ends
      return;
    }
    loading = true;
    again = false;
    try {
      await current.load();
      $("#refreshed").textContent = "Updated " + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s";
    } catch (e) {
      if (e.status === 401) {
        loading = false;
        return signOut("Wrong token: gatewarden no longer accepts it. Sign in again.");
      }
      $("#refreshed").textContent = "Refresh failed: " + e.message;
    }
    loading = false;
    timer = setTimeout(refresh, again ? 0 : REFRESH_MS);
  }

  function wire() {
    $("#login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (await signIn($("#token").value.trim())) showApp();
    });
    $("#signout").addEventListener("click", () => signOut(""));
    const op = $("#operator");
    op.value = session.operator;
    op.addEventListener("input", () => {
      session.operator = op.value;
      store.setItem("gw.operator", op.value);
    });
    document.addEventListener("click", (ev) => {
      const a = ev.target.closest("a[data-nav]");
      if (a && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey) {
        ev.preventDefault();
        navigate(a.getAttribute("href"));
        return;
      }
      const b = ev.target.closest("button[data-action]");
      if (b && current && current.actions && current.actions[b.dataset.action]) {
        current.actions[b.dataset.action](b.dataset);
      }
    });
    for (const a of document.querySelectorAll("nav a")) a.dataset.nav = "";
    $("#page").addEventListener("change", (ev) => {
      if (ev.target.closest("form.filters")) refresh();
    });
    $("#page").addEventListener("submit", (ev) => {
      ev.preventDefault();
      refresh();
    });
    window.addEventListener("popstate", route);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  }

  async function start() {
    wire();
    // An open API answers without a token; otherwise the stored token is
    // tried, and the sign-in form shown when there is none or it fails.
    if (await signIn(session.token)) showApp();
  }

  document.addEventListener("DOMContentLoaded", start);

  return { pages, get, write, esc, setHTML, canWrite, operator, notify, navigate, $ };
})();
