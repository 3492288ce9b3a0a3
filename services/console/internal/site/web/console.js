// The console's page: it asks the metrics store (MetricsQL), the log store
// (LogsQL) and the trace store (Jaeger's query API) through the console's
// read-only proxy, and redraws every 15 seconds. Nothing here is secret:
// every value is rendered as text, never as HTML.

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === "style") Object.assign(e.style, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

// instant runs a MetricsQL query and returns [{metric, value}].
async function instant(q) {
  try {
    const j = await getJSON("store/metrics/api/v1/query?query=" + encodeURIComponent(q));
    return j.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  } catch { return []; }
}

async function range(q, minutes = 15, step = 15) {
  const end = Math.floor(Date.now() / 1000), start = end - minutes * 60;
  try {
    const j = await getJSON(`store/metrics/api/v1/query_range?query=${encodeURIComponent(q)}&start=${start}&end=${end}&step=${step}`);
    return j.data.result.length ? j.data.result[0].values.map((v) => Number(v[1])) : [];
  } catch { return []; }
}

const one = async (q) => { const r = await instant(q); return r.length ? r[0].value : NaN; };
const key = (m, labels) => labels.map((l) => m[l] ?? "").join("\u0000");
async function byLabels(q, labels) {
  const out = new Map();
  for (const s of await instant(q)) out.set(key(s.metric, labels), s.value);
  return out;
}

const fmtRate = (v) => Number.isNaN(v) ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(0);
const fmtSec = (v) => Number.isNaN(v) || !Number.isFinite(v) ? "–" : v < 1 ? (v * 1000).toFixed(v < 0.01 ? 2 : 1) + " ms" : v.toFixed(2) + " s";
const fmtPct = (v) => Number.isNaN(v) ? "–" : (v * 100).toFixed(1) + " %";

function num(text, bad = false) { return el("td", { class: bad ? "num bad" : "num", text }); }

function spark(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 140 24");
  const vs = values.filter((v) => !Number.isNaN(v));
  if (vs.length > 1) {
    const max = Math.max(...vs, 1e-9);
    const pts = values.map((v, i) => `${(i / (values.length - 1)) * 140},${22 - ((Number.isNaN(v) ? 0 : v) / max) * 20}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(line);
  }
  return el("td", {}, svg);
}

function fill(tableSel, rows, emptyText) {
  const body = $(tableSel + " tbody");
  body.replaceChildren(...rows);
  if (!rows.length) {
    const cols = $(tableSel + " thead tr").children.length;
    body.append(el("tr", {}, el("td", { class: "empty", colspan: String(cols), text: emptyText })));
  }
}

// What each service's metrics are called; the lb's latency is its
// backends' time to response header.
const services = [
  { name: "lb", job: "lb", reqs: "lb_requests_total", err: 'code="5xx"', hist: "lb_backend_response_seconds_bucket" },
  { name: "frontend", job: "frontend", reqs: "frontend_http_requests_total", err: 'code=~"5.."', hist: "frontend_http_request_duration_seconds_bucket" },
  { name: "api", job: "api", reqs: "api_http_requests_total", err: 'status=~"5.."', hist: "api_http_request_duration_seconds_bucket" },
];
const quantile = (q, hist, by = "") => `histogram_quantile(${q}, sum by (le${by})(rate(${hist}[5m])))`;

async function drawServices() {
  const rows = await Promise.all(services.map(async (s) => {
    const [rps, err, p50, p99, up, targets, trend] = await Promise.all([
      one(`sum(rate(${s.reqs}[1m]))`), one(`sum(rate(${s.reqs}{${s.err}}[1m]))`),
      one(quantile(0.5, s.hist)), one(quantile(0.99, s.hist)),
      one(`sum(up{job="${s.job}"})`), one(`count(up{job="${s.job}"})`),
      range(`sum(rate(${s.reqs}[1m]))`),
    ]);
    return el("tr", {}, el("td", { text: s.name }), num(fmtRate(rps)), spark(trend), num(fmtRate(err), err > 0),
      num(fmtSec(p50)), num(fmtSec(p99)), num(Number.isNaN(targets) ? "not scraped" : `${up}/${targets}`, up < targets));
  }));
  fill("#services", rows, "");
}

async function drawRoutes() {
  const by = ["route", "method"];
  const [rps, err, p50, p99] = await Promise.all([
    byLabels("sum by (route, method)(rate(api_http_requests_total[1m]))", by),
    byLabels('sum by (route, method)(rate(api_http_requests_total{status=~"[45].."}[1m]))', by),
    byLabels(quantile(0.5, "api_http_request_duration_seconds_bucket", ", route, method"), by),
    byLabels(quantile(0.99, "api_http_request_duration_seconds_bucket", ", route, method"), by),
  ]);
  const keys = [...rps.keys()].sort((a, b) => rps.get(b) - rps.get(a));
  fill("#routes", keys.map((k) => {
    const [route, method] = k.split("\u0000");
    const e = err.get(k) ?? 0;
    return el("tr", {}, el("td", { text: `${method} ${route}` }), num(fmtRate(rps.get(k))), num(fmtRate(e), e > 0),
      num(fmtSec(p50.get(k) ?? NaN)), num(fmtSec(p99.get(k) ?? NaN)));
  }), "no api requests scraped yet");
}

async function drawBackends() {
  const by = ["pool", "backend"];
  const [avail, rps, err, retries, ej] = await Promise.all([
    instant("lb_backend_available"),
    byLabels("sum by (pool, backend)(rate(lb_backend_requests_total[1m]))", by),
    byLabels("sum by (pool, backend)(rate(lb_backend_errors_total[1m]))", by),
    byLabels("sum by (pool, backend)(rate(lb_backend_retries_total[1m]))", by),
    byLabels("sum by (pool, backend)(increase(lb_backend_ejections_total[15m]))", by),
  ]);
  avail.sort((a, b) => key(a.metric, by).localeCompare(key(b.metric, by)));
  fill("#backends", avail.map(({ metric, value }) => {
    const k = key(metric, by);
    const e = err.get(k) ?? 0, r = retries.get(k) ?? 0;
    return el("tr", {}, el("td", { text: metric.pool }), el("td", { text: metric.backend }),
      el("td", { class: value === 1 ? "" : "bad", text: value === 1 ? "yes" : `no (${metric.state ?? "down"})` }),
      num(fmtRate(rps.get(k) ?? 0)), num(fmtRate(e), e > 0), num(fmtRate(r), r > 0), num(String(Math.round(ej.get(k) ?? 0))));
  }), "no lb scraped (the basic pattern has none)");
}

// Each row is a MetricsQL query and how to show its value; a row whose
// metric no service exports yet says so.
const internals = [
  ["cache hit ratio (5m)", 'sum(rate(api_cache_requests_total{result="hit"}[5m])) / sum(rate(api_cache_requests_total[5m]))', fmtPct],
  ["cache errors/s", 'sum(rate(api_cache_requests_total{result="error"}[1m]))', fmtRate],
  ["DB connections in use", "sum(api_pgxpool_acquired_conns)", (v) => Number.isNaN(v) ? "–" : String(v)],
  ["DB pool use (in use / max)", "sum(api_pgxpool_acquired_conns) / sum(api_pgxpool_max_conns)", fmtPct],
  ["DB waits for a connection/s", "sum(rate(api_pgxpool_empty_acquires_total[1m]))", fmtRate],
  ["DB queries/s", "sum(rate(api_db_queries_total[1m]))", fmtRate],
  ["rate-limited requests/s", 'sum(rate(api_ratelimit_requests_total{result="limited"}[1m]))', fmtRate],
  ["enrichment jobs done/s", "sum(rate(api_enrich_jobs_total[5m]))", fmtRate],
  ["enrichment jobs failed/s", 'sum(rate(api_enrich_jobs_total{result=~"error|retry"}[5m]))', fmtRate],
  // Every replica reports the same backlog: max, not sum.
  ["enrichment jobs waiting", "max(api_enrich_jobs_pending)", (v) => Number.isNaN(v) ? "–" : String(v)],
  ["GitHub API quota left", "min(api_external_quota_remaining{service=\"github\"})", (v) => Number.isNaN(v) ? "–" : String(v)],
  ["registry pull quota left", "min(api_external_quota_remaining{service=\"registry\"})", (v) => Number.isNaN(v) ? "–" : String(v)],
  ["external API requests/s", "sum(rate(api_external_requests_total[5m]))", fmtRate],
];

async function drawInternals() {
  const rows = await Promise.all(internals.map(async ([label, q, fmt]) => {
    const v = await one(q);
    return el("tr", { title: q }, el("td", { text: label }), num(fmt(v)));
  }));
  fill("#internals", rows, "");
}

// Traces: Jaeger's query API answers {data: [{traceID, spans, processes}]}
// with times in microseconds.
async function recentTraces() {
  let names = [];
  try { names = (await getJSON("store/traces/api/services")).data ?? []; } catch { /* store down */ }
  const root = names.includes("lb") ? "lb" : names.includes("frontend") ? "frontend" : names[0];
  if (!root) { fill("#recent", [], "no traces yet: is OTEL_EXPORTER_OTLP_ENDPOINT set on the services? (make observability sets it)"); return; }
  const j = await getJSON(`store/traces/api/traces?service=${encodeURIComponent(root)}&limit=15&lookback=1h`);
  const traces = (j.data ?? []).map(summary).sort((a, b) => b.start - a.start);
  fill("#recent", traces.map((t) => {
    const tr = el("tr", {}, el("td", { text: new Date(t.start / 1000).toLocaleTimeString() }), el("td", { text: t.root }),
      num(String(t.spans)), el("td", { text: t.services.join(", ") }), num(fmtSec(t.duration / 1e6)), el("td", { text: t.id }));
    tr.addEventListener("click", () => showTrace(t.id));
    return tr;
  }), "no traces in the last hour");
}

function summary(t) {
  const start = Math.min(...t.spans.map((s) => s.startTime));
  const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
  // The root: the span whose parent is not in the trace (a caller's
  // traceparent names a parent the store never saw).
  const ids = new Set(t.spans.map((s) => s.spanID));
  const rootSpan = t.spans.find((s) => !(s.references ?? []).some((r) => r.refType === "CHILD_OF" && ids.has(r.spanID))) ?? t.spans[0];
  const services = [...new Set(Object.values(t.processes).map((p) => p.serviceName))].sort();
  return { id: t.traceID, start, duration: end - start, spans: t.spans.length, services, root: `${t.processes[rootSpan.processID]?.serviceName}: ${rootSpan.operationName}` };
}

async function showTrace(id) {
  $("#trace-id").value = id;
  const box = $("#trace");
  box.replaceChildren(el("p", { class: "muted", text: "loading…" }));
  let t;
  try { t = (await getJSON("store/traces/api/traces/" + encodeURIComponent(id))).data?.[0]; } catch { t = undefined; }
  if (!t) { box.replaceChildren(el("p", { class: "empty", text: `no trace ${id} in the trace store` })); }
  else box.replaceChildren(waterfall(t));
  showLogs(id);
}

// waterfall draws the spans as bars on one time axis, children under
// their parent.
function waterfall(t) {
  const byParent = new Map();
  const ids = new Set(t.spans.map((s) => s.spanID));
  for (const s of t.spans) {
    const ref = (s.references ?? []).find((r) => r.refType === "CHILD_OF" && ids.has(r.spanID));
    const p = ref ? ref.spanID : "";
    if (!byParent.has(p)) byParent.set(p, []);
    byParent.get(p).push(s);
  }
  for (const list of byParent.values()) list.sort((a, b) => a.startTime - b.startTime);
  const start = Math.min(...t.spans.map((s) => s.startTime));
  const total = Math.max(...t.spans.map((s) => s.startTime + s.duration)) - start || 1;
  const out = el("div", { class: "waterfall" });
  const walk = (parent, depth) => {
    for (const s of byParent.get(parent) ?? []) {
      const svc = t.processes[s.processID]?.serviceName ?? "?";
      const failed = (s.tags ?? []).some((g) => (g.key === "error" && g.value === true) || (g.key === "otel.status_code" && g.value === "ERROR"));
      const left = ((s.startTime - start) / total) * 100, width = (s.duration / total) * 100;
      const name = el("div", { class: "name", title: `${svc}: ${s.operationName}` }, el("span", { class: "svc", text: svc }), document.createTextNode("\u00a0".repeat(depth * 3) + s.operationName));
      const track = el("div", { class: "track" }, el("div", { class: "bar", style: { left: `${left}%`, width: `${width}%` } }),
        el("span", { class: "dur", style: { left: `${Math.min(left + width, 92)}%` }, text: fmtSec(s.duration / 1e6) }));
      out.append(el("div", { class: failed ? "span error" : "span" }, name, track));
      walk(s.spanID, depth + 1);
    }
  };
  walk("", 0);
  return out;
}

async function showLogs(id) {
  const title = $("#trace-logs-title"), pre = $("#trace-logs");
  title.hidden = false; pre.hidden = false;
  try {
    const r = await fetch(`store/logs/select/logsql/query?limit=200&query=${encodeURIComponent(`"${id}" | sort by (_time)`)}`);
    const lines = (await r.text()).split("\n").filter(Boolean).map((l) => {
      const row = JSON.parse(l);
      return `${row._time}  ${row._msg}`;
    });
    pre.textContent = lines.length ? lines.join("\n") : "no log line carries this trace id (yet: the log store lags a few seconds)";
  } catch (e) { pre.textContent = "log store unreachable: " + e.message; }
}

async function drawLinks() {
  let links = {};
  try { links = await getJSON("links.json"); } catch { /* none */ }
  $("#links").replaceChildren(...Object.entries(links).map(([label, href]) => el("a", { href, text: label })));
}

async function refresh() {
  await Promise.all([drawServices(), drawRoutes(), drawBackends(), drawInternals(), recentTraces().catch(() => fill("#recent", [], "trace store unreachable"))]);
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.ready = "true";
}

$("#trace-form").addEventListener("submit", (ev) => { ev.preventDefault(); const id = $("#trace-id").value.trim().toLowerCase(); if (id) showTrace(id); });
drawLinks();
refresh();
setInterval(refresh, 15000);
const fromHash = new URLSearchParams(location.hash.slice(1)).get("trace");
if (fromHash) showTrace(fromHash);
