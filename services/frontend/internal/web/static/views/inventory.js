// The inventory: a table of items with search, a label filter and cursor
// pagination, refreshed live when items change anywhere.

import { inventory, ApiError } from "../api.js";
import { live } from "../live.js";
import { h, replace, time } from "../dom.js";
import { badges } from "./facts.js";

// The enrichment filters: query parameter, value, label.
const checks = [["update", "available", "Update available"], ["archived", "true", "Archived upstream"], ["links", "broken", "Broken links"]];

const PAGE = 20;

export async function inventoryView(main, { query, signal }) {
  document.title = "Inventory · Image inventory";
  // cursors[i] is the cursor of page i+1; the first page has none.
  const state = { q: query.get("q") || "", label: query.get("label") || "", cursors: [""], page: 0, checks: {} };
  for (const [k, v] of checks) if (query.get(k) === v) state.checks[k] = v;
  const boxes = checks.map(([k, v, text]) => h("label", { class: "check" },
    h("input", { type: "checkbox", id: `filter-${k}`, name: k, checked: state.checks[k] === v, onchange: () => applyFilters() }), " ", text));

  const q = h("input", { id: "q", name: "q", type: "search", value: state.q, autocomplete: "off", placeholder: "part of a name" });
  const label = h("input", { id: "label-filter", name: "label", value: state.label, list: "known-labels", autocomplete: "off", placeholder: "any" });
  const datalist = h("datalist", { id: "known-labels" });
  const summary = h("p", { id: "summary", class: "muted", "aria-live": "polite" });
  const tbody = h("tbody");
  const prev = h("button", { type: "button", id: "prev", onclick: () => go(state.page - 1) }, "Previous");
  const next = h("button", { type: "button", id: "next", onclick: () => go(state.page + 1) }, "Next");
  const pageNo = h("span", { class: "muted" });

  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter items", onsubmit: (e) => { e.preventDefault(); applyFilters(); } },
    h("div", { class: "field" }, h("label", { for: "q" }, "Search"), q),
    h("div", { class: "field" }, h("label", { for: "label-filter" }, "Label"), label, datalist),
    h("fieldset", { class: "field checks" }, h("legend", {}, "Only"), boxes),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Apply"),
      h("button", { type: "button", class: "secondary", onclick: () => { q.value = ""; label.value = ""; boxes.forEach((b) => { b.querySelector("input").checked = false; }); applyFilters(); } }, "Clear")));

  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Inventory"),
      h("div", { class: "actions", "data-write": "" },
        h("a", { href: "/import", class: "button secondary", id: "import-compose" }, "Import compose file"),
        h("a", { href: "/items/new", class: "button", id: "new-item" }, "New item"))),
    form, summary,
    h("div", { class: "table-wrap" },
      h("table", { class: "items" },
        h("caption", { class: "visually-hidden" }, "Container images"),
        h("thead", {}, h("tr", {}, ["Name", "Image", "Labels", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
        tbody)),
    h("nav", { class: "pager", "aria-label": "Pagination" }, prev, pageNo, next));

  let typing;
  q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 300); });
  label.addEventListener("change", applyFilters);

  function applyFilters() {
    state.q = q.value.trim();
    state.label = label.value.trim();
    state.checks = {};
    for (const [k, v] of checks) if (main.querySelector(`#filter-${k}`)?.checked) state.checks[k] = v;
    state.cursors = [""];
    state.page = 0;
    const params = new URLSearchParams();
    if (state.q) params.set("q", state.q);
    if (state.label) params.set("label", state.label);
    for (const [k, v] of Object.entries(state.checks)) params.set(k, v);
    history.replaceState(null, "", params.size ? `/?${params}` : "/");
    load();
  }

  function go(page) {
    if (page < 0 || page >= state.cursors.length) return;
    state.page = page;
    load();
  }

  let inflight;
  async function load(highlight) {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const s = AbortSignal.any([signal, inflight.signal]);
    main.setAttribute("aria-busy", "true");
    try {
      const { data } = await inventory.list({ limit: PAGE, cursor: state.cursors[state.page], q: state.q, label: state.label, ...state.checks }, s);
      const items = data?.items || [];
      state.cursors.length = state.page + 1;
      if (data?.next_cursor) state.cursors.push(data.next_cursor);
      renderRows(items, highlight);
      prev.disabled = state.page === 0;
      next.disabled = state.page + 1 >= state.cursors.length;
      pageNo.textContent = `Page ${state.page + 1}`;
      const filtered = state.q || state.label || Object.keys(state.checks).length;
      summary.textContent = items.length === 0
        ? (filtered ? "No items match these filters." : "No items yet.")
        : `${items.length} item${items.length === 1 ? "" : "s"} on this page${filtered ? " matching the filters" : ""}.`;
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(tbody);
      summary.textContent = err instanceof ApiError ? `Could not load the inventory: ${err.message}` : String(err);
    } finally {
      if (!s.aborted) main.removeAttribute("aria-busy");
    }
  }

  function renderRows(items, highlight) {
    const labels = new Set();
    replace(tbody, items.map((it) => {
      (it.labels || []).forEach((l) => labels.add(l));
      return h("tr", { "data-id": it.id, class: it.id === highlight ? "flash" : null },
        h("td", { "data-label": "Name" }, h("a", { href: `/items/${encodeURIComponent(it.id)}` }, it.name)),
        h("td", { "data-label": "Image" }, h("code", {}, it.image), " ", h("span", { class: "badges" }, badges(it))),
        h("td", { "data-label": "Labels" }, h("span", {}, (it.labels || []).map((l) =>
          h("button", { type: "button", class: "chip", "aria-label": `Filter by label ${l}`, onclick: () => { label.value = l; applyFilters(); } }, l)))),
        h("td", { "data-label": "Updated" }, time(it.updated_at)));
    }));
    replace(datalist, [...labels].sort().map((l) => h("option", { value: l })));
  }

  // A change anywhere reloads the current page, which keeps the filters and
  // the order exactly as the API defines them.
  let pending;
  live.addEventListener("item", (e) => {
    clearTimeout(pending);
    pending = setTimeout(() => load(e.detail.id), 150);
  }, { signal });

  await load();
}
