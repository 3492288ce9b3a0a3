// Client-side routing with the History API. The server answers every UI
// route with index.html, so each of these URLs can be loaded, bookmarked and
// reloaded. A view is a function (main, ctx) where ctx has the route params,
// the query, an AbortSignal that fires when the view is left, and navigate.

const routes = [];
let current = null;

/** route registers a view for a path pattern such as "/items/:id/edit". */
export function route(pattern, view) {
  const names = [];
  const re = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, n) => (names.push(n), "([^/]+)")) + "$");
  routes.push({ re, names, view });
}

/** navigate shows path, adding a history entry unless replace is true. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render(true);
}

/** start renders the current URL and handles links and history from now on. */
export function start(notFound) {
  routes.notFound = notFound;
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    if (a.pathname.startsWith("/api/") || a.getAttribute("href").startsWith("#")) return;
    e.preventDefault();
    if (a.pathname + a.search !== location.pathname + location.search) navigate(a.pathname + a.search);
  });
  addEventListener("popstate", () => render(true));
  render(false);
}

function render(focus) {
  if (current) current.abort();
  const ctl = (current = new AbortController());
  const main = document.getElementById("main");
  main.replaceChildren();
  main.setAttribute("aria-busy", "true");
  let view = routes.notFound, params = {};
  for (const r of routes) {
    const m = r.re.exec(location.pathname);
    if (m) {
      view = r.view;
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
      break;
    }
  }
  for (const a of document.querySelectorAll("nav a")) {
    const here = a.pathname === location.pathname || (a.pathname === "/" && location.pathname.startsWith("/items"));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  dispatchEvent(new Event("routechange"));
  const ctx = { params, query: new URLSearchParams(location.search), signal: ctl.signal, navigate };
  Promise.resolve(view(main, ctx))
    .catch((err) => {
      if (err?.name !== "AbortError") throw err;
    })
    .finally(() => {
      if (!ctl.signal.aborted) main.removeAttribute("aria-busy");
      // Move focus to the new view so keyboard and screen reader users follow it.
      if (focus && !ctl.signal.aborted && !main.contains(document.activeElement)) {
        const h1 = main.querySelector("h1");
        (h1 || main).setAttribute("tabindex", "-1");
        (h1 || main).focus();
      }
    });
}
