// Import a compose file: paste or upload it, preview the changes (a dry
// run), then apply them. One item per service image.

import { importCompose } from "../api.js";
import { h, replace } from "../dom.js";

export async function importView(main) {
  document.title = "Import a compose file · Image inventory";
  const text = h("textarea", { id: "compose-text", name: "compose", rows: 14, spellcheck: "false", placeholder: "services:\n  db:\n    image: postgres:17-alpine" });
  const file = h("input", { id: "compose-file", type: "file", accept: ".yml,.yaml,text/yaml" });
  const project = h("input", { id: "compose-project", name: "project", autocomplete: "off", placeholder: "from the file's name:, else compose" });
  const vars = h("textarea", { id: "compose-vars", rows: 3, spellcheck: "false", placeholder: "TAG=1.2\nREGISTRY=ghcr.io" });
  const out = h("div", { id: "import-result", "aria-live": "polite" });
  const apply = h("button", { type: "button", id: "import-apply", disabled: true, onclick: () => run(false) }, "Import");

  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    if (f) text.value = await f.text();
  });
  text.addEventListener("input", () => { apply.disabled = true; });

  function variables() {
    const v = {};
    for (const line of vars.value.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) v[line.slice(0, i).trim()] = line.slice(i + 1);
    }
    return v;
  }

  async function run(dryRun) {
    main.setAttribute("aria-busy", "true");
    try {
      const { data } = await importCompose({ compose: text.value, variables: variables(), project: project.value.trim() || undefined }, dryRun);
      replace(out,
        h("h2", {}, dryRun ? `Preview of project ${data.project}: nothing written yet` : `Imported project ${data.project}`),
        h("table", { class: "links", id: "import-changes" },
          h("thead", {}, h("tr", {}, ["Service", "Image", "Item", "Change"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, data.changes.map((c) => h("tr", { "data-action": c.action },
            h("td", {}, c.service), h("td", {}, c.image ? h("code", {}, c.image) : "—"),
            h("td", {}, c.item_id ? h("a", { href: `/items/${c.item_id}` }, c.name) : (c.name || c.reason || "")),
            h("td", {}, c.action))))));
      apply.disabled = !dryRun;
    } catch (err) {
      replace(out, h("p", { class: "check-error", role: "alert", id: "import-error" }, err.message));
      apply.disabled = true;
    } finally {
      main.removeAttribute("aria-busy");
    }
  }

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "Inventory"), " / "),
    h("h1", {}, "Import a compose file"),
    h("p", { class: "muted" }, "Every service's image becomes an item named <project>-<service>, labelled with the project and the service. All profiles count; variables come only from the list below. Importing the same file again changes nothing."),
    h("form", { class: "form", onsubmit: (e) => { e.preventDefault(); run(true); } },
      h("div", { class: "field" }, h("label", { for: "compose-file" }, "Upload"), file),
      h("div", { class: "field" }, h("label", { for: "compose-text" }, "or paste"), text),
      h("div", { class: "field" }, h("label", { for: "compose-project" }, "Project name"), project),
      h("div", { class: "field" }, h("label", { for: "compose-vars" }, "Variables (KEY=VALUE per line)"), vars),
      h("div", { class: "actions" }, h("button", { type: "submit", id: "import-preview", class: "secondary" }, "Preview changes"), apply)),
    out);
}
