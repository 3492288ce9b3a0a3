// The item page: everything the API knows about one item, kept current by
// live events, with edit and delete for a signed-in user.

import { inventory, itemETag, ApiError } from "../api.js";
import { facts } from "./facts.js";
import { live } from "../live.js";
import { h, replace, time, toast } from "../dom.js";

// Fields shown first, in this order, with these labels; any other field the
// API returns is shown after them, so the page grows with the API.
const known = [
  ["name", "Name"], ["image", "Image"], ["image_normalized", "Normalised reference"],
  ["description", "Description"], ["labels", "Labels"], ["source_url", "Source repository"],
  ["docs_urls", "Documentation"], ["tag_include", "Update tags: only"], ["tag_exclude", "Update tags: never"],
  ["id", "ID"], ["version", "Version"],
  ["created_at", "Created"], ["updated_at", "Updated"],
];
// Shown in their own sections (facts.js).
const enriched = new Set(["registry", "github", "links"]);

export async function itemView(main, { params, signal, navigate }) {
  let item, etag;
  try {
    ({ data: item, etag } = await inventory.get(params.id, signal));
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return renderError(main, err);
  }
  const notice = h("div", { id: "item-notice", class: "notice", role: "status", hidden: true });
  const details = h("dl", { class: "details", id: "item-details" });
  const enrichment = h("div", { id: "item-facts" });
  const title = h("h1", {});
  const dialog = deleteDialog(async () => {
    try {
      await inventory.remove(item.id, itemETag(item, etag));
      toast(`Deleted ${item.name}.`);
      navigate("/", { replace: true });
    } catch (err) {
      showNotice(err.status === 412
        ? "This item changed since you opened it. Review the current version below before deleting it."
        : `Could not delete: ${err.message}`);
      if (err.status === 412) await refresh();
    }
  });

  function render() {
    document.title = `${item.name} · Image inventory`;
    title.textContent = item.name;
    replace(details, fields(item));
    replace(enrichment, facts(item));
  }
  function showNotice(msg) {
    notice.textContent = msg;
    notice.hidden = !msg;
  }
  async function refreshChecks() {
    try {
      await inventory.refresh(item.id);
      showNotice("Check queued: the results appear here when it is done.");
    } catch (err) {
      showNotice(`Could not queue a check: ${err.message}`);
    }
  }
  async function refresh() {
    try {
      ({ data: item, etag } = await inventory.get(item.id, signal));
      render();
    } catch (err) {
      if (err.name !== "AbortError") showNotice(`Could not reload: ${err.message}`);
    }
  }

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "Inventory"), " / "),
    h("div", { class: "heading" }, title,
      h("div", { class: "actions", "data-write": "" },
        h("button", { type: "button", class: "secondary", id: "refresh", onclick: refreshChecks }, "Check now"),
        h("a", { class: "button", id: "edit", href: `/items/${encodeURIComponent(params.id)}/edit` }, "Edit"),
        h("button", { type: "button", class: "danger", id: "delete", onclick: () => dialog.showModal() }, "Delete"))),
    notice, details, enrichment, dialog);
  render();

  live.addEventListener("item", (e) => {
    if (e.detail.id !== item.id) return;
    if (e.detail.type === "item.deleted") {
      showNotice("This item was deleted by someone else.");
      main.querySelector("[data-write]")?.remove();
    } else {
      refresh().then(() => showNotice("This item was just changed; you are seeing the new version."));
    }
  }, { signal });
}

function deleteDialog(onConfirm) {
  const dlg = h("dialog", { id: "confirm-delete", "aria-labelledby": "confirm-delete-title" });
  replace(dlg, h("form", { method: "dialog" },
    h("h2", { id: "confirm-delete-title" }, "Delete this item?"),
    h("p", {}, "It is removed from the inventory for everyone. This cannot be undone."),
    h("div", { class: "actions" },
      h("button", { value: "cancel", class: "secondary", autofocus: true }, "Cancel"),
      h("button", { value: "delete", class: "danger", id: "confirm-delete-yes" }, "Delete"))));
  dlg.addEventListener("close", () => {
    if (dlg.returnValue === "delete") onConfirm();
    dlg.returnValue = "";
  });
  return dlg;
}

function fields(item) {
  const out = [];
  const seen = new Set();
  for (const [key, label] of known) {
    seen.add(key);
    if (key in item) out.push(h("dt", {}, label), h("dd", { "data-field": key }, value(key, item[key])));
  }
  for (const [key, v] of Object.entries(item)) {
    if (seen.has(key) || enriched.has(key)) continue;
    const label = key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
    out.push(h("dt", {}, label), h("dd", { "data-field": key }, value(key, v)));
  }
  return out;
}

function value(key, v) {
  if (v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) return h("span", { class: "muted" }, "none");
  if (key.endsWith("_at") && typeof v === "string") return time(v);
  if (key === "labels") return v.map((l) => h("a", { class: "chip", href: `/?label=${encodeURIComponent(l)}` }, l));
  if (typeof v === "string" && /^https?:\/\//.test(v)) return link(v);
  if (Array.isArray(v)) return h("ul", { class: "plain" }, v.map((x) => h("li", {}, typeof x === "object" ? value("", x) : (/^https?:\/\//.test(x) ? link(x) : String(x)))));
  if (typeof v === "object") {
    return h("dl", { class: "nested" }, Object.entries(v).map(([k, x]) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, value(k, x))]));
  }
  if (key === "image" || key === "image_normalized" || key === "id" || key.startsWith("tag_")) return h("code", {}, String(v));
  return String(v);
}

function link(url) {
  return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, url);
}

export function renderError(main, err) {
  const missing = err instanceof ApiError && err.status === 404;
  document.title = `${missing ? "Not found" : "Error"} · Image inventory`;
  replace(main,
    h("h1", {}, missing ? "Item not found" : "Could not load the item"),
    h("p", {}, missing ? "It may have been deleted." : err.message),
    h("p", {}, h("a", { href: "/" }, "Back to the inventory")));
}
