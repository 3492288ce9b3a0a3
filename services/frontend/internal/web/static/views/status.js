// The status page: which API instance answered, the live replicas and the
// health of each dependency, refreshed every few seconds while shown.

import { status } from "../api.js";
import { h, replace, ago, duration } from "../dom.js";

const EVERY = 5000;

export async function statusView(main, { signal }) {
  document.title = "Status · Image inventory";
  const body = h("div", { id: "status", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  const updated = h("span", { class: "muted", id: "status-updated" });
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Status"),
      h("div", { class: "actions" }, updated, h("button", { type: "button", id: "refresh", onclick: load }, "Refresh"))),
    body);

  async function load() {
    try {
      const { data } = await status(signal);
      render(data);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(body, h("p", { class: "notice warning", role: "alert" }, `The API did not answer: ${err.message}`));
    }
  }

  function render(s) {
    const deps = Object.entries(s.dependencies || {});
    const replicas = s.replicas || [];
    replace(body,
      h("section", { "aria-labelledby": "answered" },
        h("h2", { id: "answered" }, "Answered by"),
        h("dl", { class: "details" },
          h("dt", {}, "Instance"), h("dd", { id: "instance" }, h("code", {}, s.instance_id ?? "—")),
          h("dt", {}, "Version"), h("dd", {}, `${s.version ?? "—"} (${(s.commit || "unknown").slice(0, 12)})`),
          h("dt", {}, "Up for"), h("dd", {}, s.uptime_seconds != null ? duration(s.uptime_seconds) : "—"))),
      h("section", { "aria-labelledby": "deps" },
        h("h2", { id: "deps" }, "Dependencies"),
        h("table", { class: "compact" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dependency"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Latency"))),
          h("tbody", {}, deps.map(([name, d]) => h("tr", { "data-dependency": name },
            h("th", { scope: "row" }, name),
            h("td", {}, h("span", { class: `state ${d.status === "up" ? "up" : "down"}` }, d.status ?? "unknown")),
            h("td", {}, d.latency_ms != null ? `${Number(d.latency_ms).toFixed(1)} ms` : "—")))))),
      h("section", { "aria-labelledby": "replicas" },
        h("h2", { id: "replicas" }, `Live replicas (${replicas.length})`),
        h("table", { class: "compact" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Instance"), h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Last seen"))),
          h("tbody", {}, replicas.map((r) => h("tr", { class: r.instance_id === s.instance_id ? "current" : null },
            h("th", { scope: "row" }, h("code", {}, r.instance_id), r.instance_id === s.instance_id ? h("span", { class: "muted" }, " (answered)") : null),
            h("td", {}, r.version ?? "—"),
            h("td", {}, r.last_seen ? ago(r.last_seen) : "—")))))));
  }

  const timer = setInterval(() => { if (!document.hidden) load(); }, EVERY);
  signal.addEventListener("abort", () => clearInterval(timer));
  await load();
}
