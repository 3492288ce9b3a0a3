// Create and edit: one form for both. The API is the judge of validity: its
// validation problems are shown next to their fields, a 412 (someone else
// changed the item) is explained with a way to reload it.

import { inventory, itemETag, session, ApiError } from "../api.js";
import { live } from "../live.js";
import { h, replace, toast } from "../dom.js";
import { renderError } from "./item.js";

const fieldDefs = [
  { name: "name", label: "Name", required: true, hint: "Unique, e.g. postgres" },
  { name: "image", label: "Image reference", required: true, hint: "e.g. postgres:17-alpine or ghcr.io/org/app@sha256:…" },
  { name: "description", label: "Description", textarea: true },
  { name: "labels", label: "Labels", hint: "Comma separated, e.g. db, critical" },
  { name: "source_url", label: "Source repository", type: "url", hint: "GitHub URL, e.g. https://github.com/docker-library/postgres" },
  { name: "docs_urls", label: "Documentation links", textarea: true, hint: "One URL per line" },
  { name: "tag_include", label: "Update tags: only", code: true,
    hint: "Optional regular expression (RE2) a newer tag must match as a whole to count as an update, e.g. ^17\\.\\d+-alpine$ to stay on 17" },
  { name: "tag_exclude", label: "Update tags: never", code: true,
    hint: "Optional regular expression (RE2); newer tags matching it as a whole never count, e.g. 17\\.4-alpine" },
];

function requireSession(navigate) {
  if (session.authenticated) return true;
  navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true });
  return false;
}

export async function createView(main, { navigate }) {
  if (!requireSession(navigate)) return;
  document.title = "New item · Image inventory";
  const f = itemForm({
    title: "New item",
    submitLabel: "Create item",
    onSubmit: async (body) => {
      const { data } = await inventory.create(body);
      toast(`Created ${data?.name ?? body.name}.`);
      navigate(data?.id ? `/items/${encodeURIComponent(data.id)}` : "/");
    },
    cancelHref: "/",
  });
  replace(main, f.el);
}

export async function editView(main, { params, signal, navigate }) {
  if (!requireSession(navigate)) return;
  let item, etag;
  try {
    ({ data: item, etag } = await inventory.get(params.id, signal));
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return renderError(main, err);
  }
  document.title = `Edit ${item.name} · Image inventory`;
  const href = `/items/${encodeURIComponent(item.id)}`;
  const f = itemForm({
    title: `Edit ${item.name}`,
    submitLabel: "Save changes",
    cancelHref: href,
    onSubmit: async (body) => {
      await inventory.replace(item.id, body, itemETag(item, etag));
      toast(`Saved ${body.name}.`);
      navigate(href);
    },
    onReload: async () => {
      ({ data: item, etag } = await inventory.get(item.id, signal));
      f.fill(item);
      toast(`Reloaded version ${item.version}.`);
    },
  });
  f.fill(item);
  replace(main, h("p", { class: "crumbs" }, h("a", { href: "/" }, "Inventory"), " / ", h("a", { href }, item.name), " / "), f.el);

  live.addEventListener("item", (e) => {
    if (e.detail.id !== item.id) return;
    f.note(e.detail.type === "item.deleted"
      ? "This item has just been deleted by someone else."
      : "Someone else has just changed this item. Saving now will be refused; reload to start from their version.");
  }, { signal });
}

/**
 * itemForm builds the form. onSubmit(body) sends it and throws ApiError on
 * failure; onReload (edit only) fetches the latest version after a 412.
 */
function itemForm({ title, submitLabel, onSubmit, onReload, cancelHref }) {
  const inputs = {};
  const errors = {};
  const summary = h("div", { id: "form-errors", class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
  const conflict = h("div", { id: "conflict", class: "notice warning", role: "alert", hidden: true });
  const note = h("div", { id: "form-note", class: "notice", role: "status", hidden: true });
  const submit = h("button", { type: "submit", id: "save" }, submitLabel);

  const rows = fieldDefs.map((d) => {
    const id = `f-${d.name}`;
    const hintId = d.hint ? `${id}-hint` : null;
    errors[d.name] = h("p", { id: `${id}-error`, class: "field-error", hidden: true });
    const attrs = { id, name: d.name, "aria-describedby": [hintId, `${id}-error`].filter(Boolean).join(" "), required: d.required, "aria-required": d.required ? "true" : null };
    inputs[d.name] = d.textarea
      ? h("textarea", { ...attrs, rows: d.name === "docs_urls" ? 3 : 2 })
      : h("input", { ...attrs, type: d.type || "text", autocomplete: "off", spellcheck: d.type || d.code ? "false" : null,
        class: d.code ? "code" : null });
    return h("div", { class: "field" },
      h("label", { for: id }, d.label, d.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      d.hint ? h("p", { id: hintId, class: "hint" }, d.hint) : null,
      errors[d.name], inputs[d.name]);
  });

  const form = h("form", { id: "item-form", class: "item-form", novalidate: true, onsubmit: send },
    summary, conflict, note, rows,
    h("div", { class: "actions" }, submit, h("a", { href: cancelHref, class: "button secondary" }, "Cancel")));
  const el = h("section", { "aria-labelledby": "form-title" }, h("h1", { id: "form-title" }, title),
    h("p", { class: "muted" }, "Fields marked * are required."), form);

  function body() {
    const v = (n) => inputs[n].value.trim();
    const list = (s, sep) => s.split(sep).map((x) => x.trim()).filter(Boolean);
    return {
      name: v("name"), image: v("image"), description: v("description"),
      labels: list(v("labels"), ","), source_url: v("source_url"), docs_urls: list(v("docs_urls"), /\n/),
      tag_include: v("tag_include"), tag_exclude: v("tag_exclude"),
    };
  }

  function clearErrors() {
    for (const [n, el] of Object.entries(errors)) {
      el.hidden = true;
      el.textContent = "";
      inputs[n].removeAttribute("aria-invalid");
    }
    summary.hidden = true;
    conflict.hidden = true;
  }

  function showErrors(err) {
    const general = [];
    const listed = [];
    let first;
    for (const { field, message } of err.errors) {
      // "labels[2]" and "docs_urls.0" belong to the labels and docs_urls inputs.
      const name = String(field || "").split(/[.[]/)[0];
      if (errors[name]) {
        const label = fieldDefs.find((d) => d.name === name).label;
        listed.push(h("li", {}, h("a", { href: `#f-${name}` }, label), `: ${message}`));
        const el = errors[name];
        el.textContent = el.textContent ? `${el.textContent} ${message}` : message;
        el.hidden = false;
        inputs[name].setAttribute("aria-invalid", "true");
        first ||= inputs[name];
      } else {
        general.push(field ? `${field}: ${message}` : message);
      }
    }
    if (err.status === 409 && !first) {
      // A duplicate name is a conflict with another item, not a stale version.
      errors.name.textContent = err.message || "Another item already has this name.";
      errors.name.hidden = false;
      inputs.name.setAttribute("aria-invalid", "true");
      first = inputs.name;
    } else if (!first || general.length) {
      general.unshift(err.message);
    }
    replace(summary,
      h("h2", {}, first ? "Please correct the highlighted fields" : "The item could not be saved"),
      listed.length || general.length ? h("ul", {}, listed, general.map((g) => h("li", {}, g))) : null,
      err.correlationId ? h("p", { class: "muted" }, `Reference: ${err.correlationId}`) : null);
    summary.hidden = false;
    (first || summary).focus();
  }

  function showConflict() {
    const reload = h("button", { type: "button", id: "reload", onclick: async () => {
      reload.disabled = true;
      try {
        await onReload();
        clearErrors();
        note.hidden = true;
        inputs.name.focus();
      } catch (err) {
        reload.disabled = false;
        toast(`Could not reload: ${err.message}`);
      }
    } }, "Reload the latest version");
    replace(conflict,
      h("h2", {}, "Someone else changed this item"),
      h("p", {}, "It was saved by someone else after you opened it, so your changes were not saved, to avoid overwriting theirs. " +
        "Reload to see the latest version, then make your changes again."),
      reload);
    conflict.hidden = false;
    reload.focus();
  }

  async function send(e) {
    e.preventDefault();
    clearErrors();
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await onSubmit(body());
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 412 && onReload) showConflict();
      else if (err.status === 401) showErrors(Object.assign(err, { message: "Your session has ended. Sign in again, then save." }));
      else showErrors(err);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  return {
    el,
    fill(item) {
      inputs.name.value = item.name ?? "";
      inputs.image.value = item.image ?? "";
      inputs.description.value = item.description ?? "";
      inputs.labels.value = (item.labels || []).join(", ");
      inputs.source_url.value = item.source_url ?? "";
      inputs.docs_urls.value = (item.docs_urls || []).join("\n");
      inputs.tag_include.value = item.tag_include ?? "";
      inputs.tag_exclude.value = item.tag_exclude ?? "";
    },
    note(msg) {
      note.textContent = msg;
      note.hidden = false;
    },
  };
}
