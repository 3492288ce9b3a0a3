// What the background checks know about an item: registry facts and
// updates, GitHub facts, link states, when each was checked and why a
// check failed. Shared by the item page (facts) and the list (badges).

import { h, time } from "../dom.js";

const stateText = { pending: "not checked yet", ok: "ok", error: "check failed" };

function state(s) {
  return h("span", { class: `state state-${s || "pending"}` }, stateText[s] || s || "not checked yet");
}

function checked(src) {
  return src?.checked_at ? h("span", { class: "muted" }, " · checked ", time(src.checked_at)) : null;
}

function failure(src) {
  return src?.error ? h("p", { class: "check-error", role: "note" }, src.error) : null;
}

function size(n) {
  if (!n) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function tagOf(image) {
  const at = image.indexOf("@");
  const s = at >= 0 ? image.slice(0, at) : image;
  const colon = s.lastIndexOf(":");
  return colon > s.lastIndexOf("/") ? s.slice(colon + 1) : "latest";
}

/** update describes an available update as "current → newer". */
export function updateText(item) {
  const u = item.registry?.update;
  if (!u?.available) return "";
  const cur = tagOf(item.image);
  const parts = [];
  if (u.newest_in_major) parts.push(`${cur} → ${u.newest_in_major}`);
  if (u.newest && u.newest !== u.newest_in_major) parts.push(`${cur} → ${u.newest} (new major)`);
  if (u.digest_changed) parts.push(`${cur} was rebuilt (new digest)`);
  return parts.join("; ");
}

/** badges are the list's markers: update, archived, broken link. */
export function badges(item) {
  const out = [];
  if (item.registry?.update?.available) out.push(h("span", { class: "badge badge-update", title: updateText(item) }, "update"));
  if (item.github?.archived) out.push(h("span", { class: "badge badge-archived" }, "archived"));
  if ((item.links || []).some((l) => l.state === "broken")) out.push(h("span", { class: "badge badge-broken" }, "broken link"));
  if (item.registry?.state === "error" || item.github?.state === "error") out.push(h("span", { class: "badge badge-error", title: item.registry?.error || item.github?.error }, "check failed"));
  return out;
}

/** facts renders the three sources for the item page. */
export function facts(item) {
  const r = item.registry || { state: "pending" };
  const reg = h("section", { class: "facts", id: "registry-facts", "aria-labelledby": "registry-h" },
    h("h2", { id: "registry-h" }, "Registry ", state(r.state), checked(r)),
    failure(r),
    r.digest ? h("dl", { class: "details" },
      h("dt", {}, "Digest"), h("dd", { "data-fact": "digest" }, h("code", {}, r.digest)),
      h("dt", {}, "Platforms"), h("dd", { "data-fact": "platforms" }, (r.platforms || []).join(", ") || "—"),
      h("dt", {}, "Created"), h("dd", { "data-fact": "created" }, r.created ? time(r.created) : "—"),
      h("dt", {}, "Compressed size"), h("dd", { "data-fact": "size" }, size(r.size_bytes)),
      h("dt", {}, "Update"), h("dd", { "data-fact": "update" },
        r.update?.available
          ? h("span", { class: "badge badge-update" }, updateText(item))
          : h("span", { class: "muted" }, r.update ? "up to date" : "not compared (a digest reference or no version in the tag)"),
        r.update?.available && r.checked_at ? h("span", { class: "muted" }, " · seen ", time(r.checked_at)) : null)) : null);

  let gh = null;
  if (item.github) {
    const g = item.github;
    gh = h("section", { class: "facts", id: "github-facts", "aria-labelledby": "github-h" },
      h("h2", { id: "github-h" }, "GitHub ", state(g.state), g.archived ? h("span", { class: "badge badge-archived" }, "archived") : null, checked(g)),
      failure(g),
      g.state === "ok" || g.repository ? h("dl", { class: "details" },
        h("dt", {}, "Repository"), h("dd", {}, g.repository || "—"),
        h("dt", {}, "Stars"), h("dd", { "data-fact": "stars" }, String(g.stars ?? 0)),
        h("dt", {}, "License"), h("dd", {}, g.license || "—"),
        h("dt", {}, g.default_branch ? ["Last push to ", h("code", {}, g.default_branch)] : "Last push"), h("dd", { "data-fact": "pushed" }, g.pushed_at ? time(g.pushed_at) : "—"),
        h("dt", {}, "Latest release"), h("dd", { "data-fact": "release" },
          g.latest_release ? [g.latest_release.tag, g.latest_release.published_at ? [" · ", time(g.latest_release.published_at)] : null] : "none")) : null);
  }

  const links = item.links || [];
  const ln = h("section", { class: "facts", id: "link-facts", "aria-labelledby": "links-h" },
    h("h2", { id: "links-h" }, "Links"),
    links.length === 0 ? h("p", { class: "muted" }, "Not checked yet.") :
      h("table", { class: "links" },
        h("thead", {}, h("tr", {}, ["Link", "State", "Status", "Latency", "Checked"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, links.map((l) => h("tr", { "data-link-state": l.state },
          h("td", {}, h("a", { href: l.url, rel: "noopener noreferrer", target: "_blank" }, l.url),
            l.final_url && l.final_url !== l.url ? h("div", { class: "muted" }, "→ ", l.final_url) : null,
            l.error ? h("div", { class: "check-error" }, l.error) : null),
          h("td", {}, h("span", { class: `state state-${l.state === "ok" ? "ok" : "error"}` }, l.state)),
          h("td", {}, l.status ? String(l.status) : "—"),
          h("td", {}, `${l.latency_ms} ms`),
          h("td", {}, l.checked_at ? time(l.checked_at) : "—"))))));
  return [reg, gh, ln];
}
