// CAIO console: one page over the gateway's JSON API (/api/v1), no build step.
//
// Every string from the API goes into the page as text (el() below appends
// text nodes; no HTML string is ever parsed): service names, exclusion
// reasons and callers are other people's text. The key the user types stays
// in this tab's sessionStorage and is sent as `Authorization: Bearer`.
"use strict";

const KEY_STORE = "caio.console.key";
const REFRESH_MS = 5000;
const AUDIT_PAGE = 100;
const VIEWS = ["services", "audit", "keys"];

// -- small helpers ----------------------------------------------------------------

/** An element with attributes, listeners (on<event>) and children (strings become text). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

const $ = (selector, root = document) => root.querySelector(selector);
const none = () => el("span", { class: "muted" }, "–");
const ms = (value) => (typeof value === "number" ? `${value.toFixed(1)} ms` : none());
const atMost = (value) => (typeof value === "number" ? `≤ ${value} ms` : none());
const badge = (text, kind) => el("span", { class: `badge ${kind || text}` }, String(text));
const chips = (items) => (items && items.length ? items.map((i) => el("span", { class: "chip" }, i)) : null);

/** A record's time, short: the time of day when it is today's, else date and time. */
function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function fromUnix(seconds) {
  return typeof seconds === "number" ? new Date(seconds * 1000).toLocaleString() : null;
}

/** An answer to a request sent with a key that is no longer in use: dropped unseen. */
class Stale extends Error {}

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message} (HTTP ${status})`);
    this.status = status;
    this.code = code;
  }
}

/** GET a gateway path with the key in use; CAIO's error reply becomes an ApiError. */
async function api(path) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { headers });
  const body = await response.json().catch(() => null);
  if (sessionStorage.getItem(KEY_STORE) !== key) throw new Stale();
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText);
  }
  return body;
}

const latest = { services: 0, audit: 0, keys: 0 };

/** Runs a view's loader, showing its error in the view's alert line instead of the data.
 * Only the latest load of a view speaks: a slow answer to a request made before a key
 * was given must not report "unauthenticated" over the data the key has since loaded. */
async function guarded(view, load) {
  const ticket = ++latest[view];
  const alert = $(`#${view} .error`);
  try {
    await load();
    if (ticket === latest[view]) alert.hidden = true;
  } catch (error) {
    if (ticket !== latest[view] || error instanceof Stale) return;
    alert.textContent = error instanceof ApiError ? error.message : `the gateway did not answer: ${error}`;
    alert.hidden = false;
  }
}

function fill(tbody, rows, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "muted" }, "nothing to show"))]));
}

// -- services ---------------------------------------------------------------------

async function loadServices() {
  const [listed, stats] = await Promise.all([api("api/v1/services"), api("api/v1/stats")]);
  const observedBy = new Map(stats.services.map((s) => [s.service_id, s]));
  const rows = listed.services.map((service) => serviceRow(service, observedBy.get(service.service_id)));
  fill($("#services-table tbody"), rows, 11);
  $("#services-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function serviceRow(service, stats) {
  const bound = stats ? stats.contract.p95_latency_ms : null;
  const seen = stats ? stats.observed : {};
  const over = typeof bound === "number" && typeof seen.p95_ms === "number" && seen.p95_ms > bound;
  const status = [badge(service.availability)];
  if (stats) status.push(` ${stats.instances} live`);
  if (stats && stats.circuit !== "closed") status.push(" ", badge(`circuit ${stats.circuit}`, "warn"));
  return el(
    "tr",
    { "data-service": service.service_id },
    el("td", {}, el("strong", {}, service.service_id), el("div", { class: "sub" }, `${service.service_name} · v${service.version}`)),
    el("td", {}, chips(service.capabilities)),
    el("td", { class: "status" }, status),
    el("td", { class: "num bound" }, atMost(bound)),
    el("td", { class: "num p50" }, ms(seen.p50_ms)),
    el("td", { class: over ? "num p95 over" : "num p95" }, ms(seen.p95_ms)),
    el("td", {}, stats ? badge(stats.guarantee) : none()),
    el("td", { class: "num samples" }, seen.samples ?? none()),
    el("td", { class: "num" }, typeof seen.error_rate === "number" ? `${(seen.error_rate * 100).toFixed(0)}%` : none()),
    el("td", {}, stats ? limits(stats.contract) : none()),
    el("td", {}, el("button", { type: "button", onclick: () => showContract(service.service_id) }, "contract")),
  );
}

function limits(contract) {
  const parts = [];
  if (contract.max_concurrent_requests) parts.push(`${contract.max_concurrent_requests} at once`);
  const rate = contract.rate_limit;
  if (rate) parts.push(Object.entries(rate).map(([unit, n]) => `${n} ${unit.replaceAll("_", " ")}`).join(", "));
  return parts.length ? parts.join("; ") : none();
}

async function showContract(serviceId) {
  const panel = $("#contract");
  await guarded("services", async () => {
    const reply = await api(`api/v1/services/${encodeURIComponent(serviceId)}`);
    const text = JSON.stringify(reply.contract, null, 2);
    const service = reply.contract.service || {};
    $("h3", panel).textContent = `Contract of ${serviceId} (revision ${reply.revision})`;
    $(".description", panel).textContent = [service.name, service.description].filter(Boolean).join(": ");
    $("pre", panel).textContent = text;
    const link = $(".download", panel);
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.setAttribute("download", `${serviceId}.json`);
    panel.hidden = false;
  });
}

// -- audit ------------------------------------------------------------------------

const audit = { query: null, after: 0, records: new Map() };

function auditQuery() {
  const form = new FormData($("#audit-filters"));
  const query = new URLSearchParams({ limit: String(AUDIT_PAGE) });
  for (const name of ["kind", "outcome", "service_id"]) {
    const value = String(form.get(name) || "").trim();
    if (value) query.set(name, value);
  }
  const seconds = Number(form.get("since"));
  if (seconds) query.set("since", new Date(Date.now() - seconds * 1000).toISOString());
  return query;
}

async function loadAudit(more) {
  if (!more) {
    audit.query = auditQuery();
    audit.after = 0;
    audit.records.clear();
    $("#audit-table tbody").replaceChildren();
    $("#decision").hidden = true;
  }
  const query = new URLSearchParams(audit.query);
  if (audit.after) query.set("after", String(audit.after));
  const page = await api(`api/v1/audit?${query}`);
  audit.after = page.next_after;
  const rows = page.records.map((record) => {
    audit.records.set(record.seq, record);
    return auditRow(record);
  });
  const tbody = $("#audit-table tbody");
  if (more) tbody.append(...rows);
  else fill(tbody, rows, 8);
  $("#audit-more").hidden = !page.more;
}

function auditRow(record) {
  const open = () => showDecision(record.seq);
  return el(
    "tr",
    { class: "clickable", tabindex: 0, "data-seq": record.seq, onclick: open, onkeydown: (e) => e.key === "Enter" && open() },
    el("td", { class: "num" }, record.seq),
    el("td", { title: record.ts }, when(record.ts)),
    el("td", {}, record.kind, record.dry_run ? el("span", { class: "sub" }, " dry run") : null),
    el("td", {}, badge(record.outcome)),
    el("td", {}, record.caller ?? none()),
    el("td", {}, record.capability ?? none()),
    el("td", {}, record.service_id ?? none()),
    el("td", { class: "num" }, ms(record.latency_ms)),
  );
}

function table(id, headings, rows) {
  if (!rows.length) return el("p", { class: "muted", id }, "none");
  return el("table", { id }, el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

function showDecision(seq) {
  const record = audit.records.get(seq);
  const decision = record.decision || {};
  const codes = decision.excluded_codes || {};
  const reasons = decision.excluded || {};
  for (const row of document.querySelectorAll("#audit-table tr.selected")) row.classList.remove("selected");
  const selected = document.querySelector(`#audit-table tr[data-seq="${Number(seq)}"]`);
  if (selected) selected.classList.add("selected");

  const facts = [
    ["Time", record.ts], ["Kind", record.kind], ["Outcome", record.outcome], ["Request", record.request_id],
    ["Caller", record.caller], ["Capability", record.capability], ["Service", record.service_id],
    ["Latency", typeof record.latency_ms === "number" ? `${record.latency_ms.toFixed(1)} ms` : null],
    ["Dry run", record.dry_run ? "yes" : null], ["Operation", record.operation], ["Trace", record.trace_id],
    ["Registry revision", decision.registry_revision], ["Offering the capability", decision.pool],
  ];
  // Registry, keys and guarantee records decide other things (action, state...): shown as they are.
  const routed = record.kind === "route" || "candidates" in decision || Boolean(record.attempts);
  const known = new Set(["candidates", "excluded", "excluded_codes", "registry_revision", "pool"]);
  for (const [name, value] of Object.entries(decision)) {
    const label = name.charAt(0).toUpperCase() + name.slice(1).replaceAll("_", " ");
    if (!known.has(name)) facts.push([label, typeof value === "string" ? value : JSON.stringify(value)]);
  }
  const candidates = (decision.candidates || []).map((c, i) =>
    el("tr", { class: c.service_id === record.service_id ? "chosen" : null },
      el("td", { class: "num" }, i + 1), el("td", {}, c.service_id), el("td", { class: "num" }, Number(c.score).toFixed(3)),
      el("td", {}, c.service_id === record.service_id ? badge("chosen", "ok") : null)));
  const excluded = [...new Set([...Object.keys(reasons), ...Object.keys(codes)])].sort().map((sid) =>
    el("tr", {}, el("td", {}, sid), el("td", {}, codes[sid] ? el("code", {}, codes[sid]) : none()), el("td", {}, reasons[sid] ?? none())));
  const attempts = (record.attempts || []).map((a) =>
    el("tr", {}, el("td", {}, a.service_id), el("td", {}, badge(a.status)), el("td", { class: "num" }, ms(a.latency_ms)),
      el("td", {}, a.error ? `${a.error.code || "error"}: ${a.error.message || ""}` : none())));

  // DOM methods write a null child as the text "null": only el() skips them.
  const parts = [
    el("div", { class: "bar" }, el("h3", {}, `Decision #${record.seq}`),
      el("button", { type: "button", class: "close", onclick: () => { $("#decision").hidden = true; } }, "Close")),
    el("dl", {}, facts.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])),
    record.error ? el("p", { class: "error-box" }, el("code", {}, record.error.code || "error"), " ", record.error.message || "") : null,
    // Only a route decides among services; a registry or keys record has no ranking to show.
    ...(routed ? [
      el("h4", {}, "Candidates"),
      table("decision-candidates", ["#", "Service", "Score", ""], candidates),
      el("h4", {}, "Excluded"),
      table("decision-excluded", ["Service", "Code", "Reason"], excluded),
      el("h4", {}, "Attempts"),
      table("decision-attempts", ["Service", "Status", "Latency", "Error"], attempts),
    ] : []),
    el("details", {}, el("summary", {}, "Record as JSON"), el("pre", {}, JSON.stringify(record, null, 2))),
  ];
  $("#decision").replaceChildren(...parts.filter(Boolean));
  $("#decision").hidden = false;
}

// -- keys -------------------------------------------------------------------------

async function loadKeys() {
  const reply = await api("api/v1/keys");
  const now = Date.now() / 1000;
  const rows = reply.keys.map((key) => {
    const policy = key.policy || {};
    const limitsText = [
      policy.requests_per_minute ? `${policy.requests_per_minute}/min` : null,
      policy.data_locality ? `data in ${policy.data_locality.join(", ")}` : null,
      policy.hipaa_compliant ? "HIPAA only" : null,
    ].filter(Boolean).join("; ");
    let state = badge("active", "ok");
    if (key.revoked_at) state = badge("revoked", "error");
    else if (key.expires_at && key.expires_at <= now) state = badge("expired", "error");
    return el(
      "tr",
      { "data-key": key.name },
      el("td", {}, el("strong", {}, key.name)),
      el("td", {}, el("code", {}, key.key_id)),
      el("td", {}, key.role),
      el("td", {}, chips(key.capabilities) || el("span", { class: "muted" }, "any")),
      el("td", {}, chips(key.services) || el("span", { class: "muted" }, "any")),
      el("td", {}, limitsText || el("span", { class: "muted" }, "none")),
      el("td", {}, fromUnix(key.created_at) ?? none()),
      el("td", {}, fromUnix(key.expires_at) ?? "never"),
      el("td", {}, state),
    );
  });
  fill($("#keys-table tbody"), rows, 9);
}

// -- the page: views, key, refresh ------------------------------------------------

const loaders = { services: loadServices, audit: () => loadAudit(false), keys: loadKeys };

function currentView() {
  const name = location.hash.slice(1);
  return VIEWS.includes(name) ? name : "services";
}

function show() {
  const view = currentView();
  for (const name of VIEWS) $(`#${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === view);
  return guarded(view, loaders[view]);
}

function showKeyState() {
  const key = sessionStorage.getItem(KEY_STORE);
  $("#key-state").textContent = key ? "key in use for this tab" : "no key: paste an API key";
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    showKeyState();
    show();
  });
  $("#forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    $("#api-key").value = "";
    // What the key could read goes with it: nothing stays on screen for the next person.
    for (const tbody of document.querySelectorAll("tbody")) tbody.replaceChildren();
    for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
    for (const text of document.querySelectorAll("#contract h3, #contract p, #contract pre")) text.textContent = "";
    $("#decision").replaceChildren();
    $("#audit-more").hidden = true;
    audit.records.clear();
    showKeyState();
  });
  $("#audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded("audit", () => loadAudit(false));
  });
  $("#audit-more").addEventListener("click", () => guarded("audit", () => loadAudit(true)));
  $("#contract .close").addEventListener("click", () => { $("#contract").hidden = true; });
  window.addEventListener("hashchange", show);
  // Live status: the services view polls while it is on screen; the others load on demand.
  setInterval(() => {
    if (currentView() === "services" && document.visibilityState === "visible") guarded("services", loadServices);
  }, REFRESH_MS);
  showKeyState();
  show();
});
