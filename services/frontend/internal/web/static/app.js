// The entry module: wires the session, the live stream and the routes.

import { auth, session } from "./api.js";
import { connect } from "./live.js";
import { route, start, navigate } from "./router.js";
import { h, replace, toast } from "./dom.js";
import { inventoryView } from "./views/inventory.js";
import { itemView } from "./views/item.js";
import { createView, editView } from "./views/form.js";
import { statusView } from "./views/status.js";
import { signinView } from "./views/signin.js";
import { importView } from "./views/import.js";

function renderAccount() {
  document.body.dataset.auth = session.authenticated ? "in" : "out";
  const el = document.getElementById("account");
  if (session.authenticated) {
    replace(el,
      h("span", { class: "user" }, "Signed in as ", h("strong", {}, session.username)),
      h("button", { type: "button", id: "signout", class: "link", onclick: signOut }, "Sign out"));
  } else {
    const next = location.pathname === "/signin" ? "" : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    replace(el, h("a", { id: "signin-link", href: `/signin${next}` }, "Sign in"));
  }
}

async function signOut() {
  await auth.logout().catch(() => {});
  toast("Signed out.");
  if (location.pathname.endsWith("/edit") || location.pathname === "/items/new") navigate("/", { replace: true });
}

function notFound(main) {
  document.title = "Not found · Image inventory";
  replace(main, h("h1", {}, "Page not found"),
    h("p", {}, "There is nothing at this address. ", h("a", { href: "/" }, "Go to the inventory"), "."));
}

route("/", inventoryView);
route("/items/new", createView);
route("/items/:id", itemView);
route("/items/:id/edit", editView);
route("/status", statusView);
route("/import", importView);
route("/signin", signinView);

session.addEventListener("change", renderAccount);
addEventListener("routechange", renderAccount);
await auth.refresh();
renderAccount();
connect();
start(notFound);
