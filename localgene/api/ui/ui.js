// localgene's job browser. Everything it shows comes from the server's JSON (/ui/api/...), read
// with the user's token in the X-Auth-Token header, as an API client sends it. The token is kept
// in this tab's sessionStorage only. Pages: #/login, #/jobs?..., #/job?project=…&id=….
"use strict";

const TOKEN_KEY = "localgene.token";
const PROJECT_KEY = "localgene.project";
const POLL_MS = 2000;
const PAGE_SIZES = [10, 20, 50, 100];

const state = { me: null, identity: null, timer: null, reportUrl: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["X-Auth-Token"] = token;
  const resp = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
  if (!resp.ok) {
    let code = "", msg = `HTTP ${resp.status}`;
    try { const body = await resp.json(); code = body.error_code || ""; msg = body.error_msg || msg; } catch (e) { /* not JSON */ }
    throw new ApiError(resp.status, code, msg);
  }
  return options.raw ? resp : resp.json();
}

function stopPolling() {
  if (state.timer) { clearTimeout(state.timer); state.timer = null; }
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query] = hash.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

function go(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const target = "#" + path + (q.toString() ? "?" + q : "");
  if (location.hash === target) render(); else location.hash = target;
}

function show(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
}

function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err.code ? `${err.code}: ${err.message}` : err.message);
}

function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(s) {
  s = Math.max(0, Math.round(s || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

function badge(status) { return el("span", { class: `badge s-${status}`, "data-status": status }, status); }

function progressBar(job, big) {
  const pct = job.progress_total ? Math.round((100 * job.progress_done) / job.progress_total) : 0;
  const fill = el("div");
  fill.style.width = `${pct}%`;  // CSSOM, which the page's Content-Security-Policy allows
  return el("span", {},
    el("span", { class: "progress" + (big ? " big" : ""), role: "progressbar", "aria-valuenow": pct,
                 "aria-valuemin": 0, "aria-valuemax": 100 }, fill),
    big ? null : `${job.progress}`);
}

function currentProject() {
  const sel = document.getElementById("project"), text = document.getElementById("project-text");
  return (text.hidden ? sel.value : text.value.trim()) || "";
}

function setupHeader() {
  const me = state.me;
  const who = document.getElementById("who");
  who.hidden = false;
  document.getElementById("user").textContent = `${me.name} (${me.role}${me.single_user ? ", local" : ""})`;
  document.getElementById("logout").hidden = me.single_user;
  const sel = document.getElementById("project"), text = document.getElementById("project-text");
  const remembered = localStorage.getItem(PROJECT_KEY) || "";
  if (me.projects.includes("*")) {
    sel.hidden = true; text.hidden = false; text.value = route().params.get("project") || remembered || "default";
  } else {
    sel.hidden = false; text.hidden = true;
    sel.replaceChildren(...me.projects.map((p) => el("option", { value: p }, p)));
    const wanted = route().params.get("project") || remembered;
    if (me.projects.includes(wanted)) sel.value = wanted;
  }
  const changed = () => { localStorage.setItem(PROJECT_KEY, currentProject()); go("/jobs", { project: currentProject() }); };
  sel.onchange = changed;
  text.onchange = changed;
}

// ---------------------------------------------------------------------------------------------
// Sign-in

function loginPage(message) {
  stopPolling();
  document.getElementById("who").hidden = true;
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "lg_…", required: true });
  const form = el("form", { class: "card login", id: "login-form", onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try { await start(); } catch (err) { sessionStorage.removeItem(TOKEN_KEY); loginPage(err); }
    } },
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste the token that ", el("code", {}, "localgene users add"),
       " printed. It is kept in this browser tab only and sent with each request, as API clients send it."),
    el("label", { for: "token" }, "token"), input,
    message ? errorBox(message) : null,
    el("button", { class: "primary", type: "submit" }, "Sign in"));
  show(form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// The job list

async function jobsPage(params) {
  const project = params.get("project") || currentProject();
  if (!project) { show(el("p", { class: "error" }, "this user may use no project")); return; }
  const type = params.get("type") || "", status = params.get("status") || "";
  const limit = Number(params.get("limit") || 10), page = Math.max(1, Number(params.get("page") || 1));
  const filters = { project, type, status, limit, page };

  const typeSel = el("select", { id: "filter-type", onchange: () => go("/jobs", { ...filters, type: typeSel.value, page: 1 }) },
    el("option", { value: "" }, "all types"), state.me.job_types.map((t) => el("option", { value: t }, t)));
  typeSel.value = type;
  const statusSel = el("select", { id: "filter-status", onchange: () => go("/jobs", { ...filters, status: statusSel.value, page: 1 }) },
    el("option", { value: "" }, "any state"), state.me.statuses.map((s) => el("option", { value: s }, s)));
  statusSel.value = status;
  const sizeSel = el("select", { id: "page-size", onchange: () => go("/jobs", { ...filters, limit: sizeSel.value, page: 1 }) },
    PAGE_SIZES.map((n) => el("option", { value: n }, n)));
  sizeSel.value = String(limit);

  const body = el("tbody");
  const summary = el("span", { id: "page-info", class: "muted" });
  const prev = el("button", { id: "prev", onclick: () => go("/jobs", { ...filters, page: page - 1 }) }, "‹ newer");
  const next = el("button", { id: "next", onclick: () => go("/jobs", { ...filters, page: page + 1 }) }, "older ›");
  const errors = el("div");
  show(el("section", { class: "card" },
    el("h1", {}, `Jobs of project ${project}`),
    el("div", { class: "filters" },
      el("label", {}, "type", typeSel), el("label", {}, "state", statusSel), el("label", {}, "per page", sizeSel)),
    errors,
    el("table", { id: "jobs" },
      el("thead", {}, el("tr", {}, ["job", "type", "state", "progress", "submitted", "duration", "owner", "message"].map((h) => el("th", {}, h)))),
      body),
    el("div", { class: "pager" }, prev, summary, next)));

  const load = async () => {
    const q = new URLSearchParams({ limit, offset: limit * (page - 1) });
    if (type) q.set("type", type);
    if (status) q.set("status", status);
    try {
      const data = await api(`/ui/api/${encodeURIComponent(project)}/jobs?${q}`);
      errors.replaceChildren();
      body.replaceChildren(...data.jobs.map((j) => el("tr", { "data-id": j.id },
        el("td", {}, el("a", { class: "mono", href: `#/job?project=${encodeURIComponent(project)}&id=${j.id}` }, j.id.slice(0, 8))),
        el("td", {}, j.type), el("td", {}, badge(j.status)), el("td", {}, progressBar(j)),
        el("td", {}, fmtTime(j.start_time)), el("td", {}, fmtDuration(j.duration)), el("td", {}, j.owner),
        el("td", { class: "msg" }, j.message))));
      if (!data.jobs.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no jobs")));
      const first = data.count ? data.offset + 1 : 0, last = data.offset + data.jobs.length;
      summary.textContent = `${first}–${last} of ${data.count}`;
      prev.disabled = page <= 1;
      next.disabled = last >= data.count;
    } catch (err) {
      if (err.status === 401) return loginPage(err);
      errors.replaceChildren(errorBox(err));
      body.replaceChildren();
    }
    state.timer = setTimeout(load, POLL_MS * 2.5);
  };
  await load();
}

// ---------------------------------------------------------------------------------------------
// One job

async function jobPage(params) {
  const project = params.get("project") || currentProject(), id = params.get("id") || "";
  const base = `/ui/api/${encodeURIComponent(project)}/jobs/${encodeURIComponent(id)}`;
  const head = el("div"), facts = el("dl", { class: "facts" }), actions = el("div", { class: "actions" });
  const logPre = el("pre", { class: "log", id: "log" }, "");
  const errors = el("div");
  const logCard = el("section", { class: "card", id: "log-card" }, el("h2", {}, "Log (last 60 lines)"), logPre);
  show(el("p", {}, el("a", { href: `#/jobs?project=${encodeURIComponent(project)}` }, "‹ all jobs")),
    el("section", { class: "card", id: "job" }, head, errors, facts, actions), logCard);

  let reportShown = false;
  const load = async () => {
    let job;
    try {
      job = await api(base);
      errors.replaceChildren();
    } catch (err) {
      if (err.status === 401) return loginPage(err);
      head.replaceChildren(el("h1", {}, "Job ", el("code", {}, id)));
      errors.replaceChildren(errorBox(err));
      logCard.hidden = true;
      return;  // not visible to this user (or gone): stop polling
    }
    head.replaceChildren(el("h1", {}, `${job.type} job `, el("code", { id: "job-id" }, job.id), " ", badge(job.status)),
      progressBar(job, true), el("p", { id: "progress-text", class: "muted" }, `${job.progress} steps`));
    const rows = [["owner", job.owner], ["submitted", fmtTime(job.start_time)], ["ended", fmtTime(job.end_time) || "–"],
      ["duration", fmtDuration(job.duration)], ["message", job.message || "–"],
      ["warnings", job.warnings.length ? job.warnings.join("; ") : "none"]];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, v)]));

    const cancel = job.cancellable ? el("button", { class: "danger", id: "cancel", onclick: async () => {
        cancel.disabled = true;
        try { await api(base, { method: "DELETE" }); } catch (err) { errors.replaceChildren(errorBox(err)); }
        stopPolling(); load();
      } }, "Cancel job") : null;
    const reportLink = el("span");
    actions.replaceChildren(...[cancel, reportLink].filter(Boolean));
    if (job.has_report && !reportShown) {
      try {
        const resp = await api(`${base}/report`, { raw: true });
        if (state.reportUrl) URL.revokeObjectURL(state.reportUrl);
        state.reportUrl = URL.createObjectURL(new Blob([await resp.text()], { type: "text/html" }));
        reportShown = true;
      } catch (err) { errors.replaceChildren(errorBox(err)); }
    }
    if (reportShown) {
      reportLink.replaceChildren(el("a", { id: "report-link", class: "button primary", href: state.reportUrl, target: "_blank", rel: "noopener" }, "Open the report"));
    } else if (job.type === "CNVKIT") {
      const why = job.status === "FINISHED" ? "no report in this job's folder"
        : ["FAILED", "CANCELLED"].includes(job.status) ? "no report: the job did not finish"
        : "the report is written when the job finishes";
      reportLink.replaceChildren(el("span", { class: "muted" }, why));
    }
    try {
      const log = await api(`${base}/log?tail=60`);
      const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
      logPre.textContent = log.log || "(nothing logged yet)";
      if (atBottom) logPre.scrollTop = logPre.scrollHeight;
    } catch (err) { logPre.textContent = err.message; }
    const active = ["LAUNCHING", "RUNNING", "CANCELING"].includes(job.status);
    if (active) state.timer = setTimeout(load, POLL_MS);
  };
  await load();
}

// ---------------------------------------------------------------------------------------------

async function render() {
  stopPolling();
  const { path, params } = route();
  if (path === "/login") return loginPage();
  if (!state.me) return start();
  if (params.get("project") && params.get("project") !== currentProject()) setupHeader();
  if (path === "/job") return jobPage(params);
  return jobsPage(params);
}

async function start() {
  if (!state.identity) state.identity = (await api("/health")).identity;
  if (state.identity === "users-file" && !sessionStorage.getItem(TOKEN_KEY)) return loginPage();
  try {
    state.me = await api("/ui/api/whoami");
  } catch (err) {
    if (err.status === 401) { sessionStorage.removeItem(TOKEN_KEY); return loginPage(err); }
    throw err;
  }
  setupHeader();
  if (route().path === "/login") location.hash = "#/jobs";
  return render();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    go("/login");
  });
  window.addEventListener("hashchange", () => { render().catch((err) => show(errorBox(err))); });
  start().catch((err) => show(errorBox(err)));
});
