// Sign in with the admin account. The API sets an HttpOnly session cookie;
// the page keeps only the CSRF token, in memory.

import { auth, session, ApiError } from "../api.js";
import { h, replace, toast } from "../dom.js";

export async function signinView(main, { query, navigate }) {
  document.title = "Sign in · Image inventory";
  const next = safeNext(query.get("next"));
  if (session.authenticated) {
    replace(main, h("h1", {}, "Signed in"), h("p", {}, `You are signed in as ${session.username}. `, h("a", { href: next }, "Continue")));
    return;
  }
  const error = h("p", { id: "signin-error", class: "error-summary", role: "alert", hidden: true });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, value: "admin" });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", id: "signin-submit" }, "Sign in");
  const form = h("form", { class: "narrow", onsubmit: async (e) => {
    e.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await auth.login(user.value.trim(), pass.value);
      toast(`Signed in as ${session.username}.`);
      navigate(next, { replace: true });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      error.textContent = err.status === 401 ? "Wrong username or password."
        : err.status === 429 ? "Too many attempts. Wait a minute, then try again."
        : `Could not sign in: ${err.message}`;
      error.hidden = false;
      pass.setAttribute("aria-invalid", "true");
      pass.select();
    } finally {
      submit.disabled = false;
    }
  } },
    error,
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), user),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), pass),
    h("div", { class: "actions" }, submit));
  replace(main, h("h1", {}, "Sign in"), h("p", { class: "muted" }, "Sign in with the admin account to add, change and delete items."), form);
}

// safeNext keeps a redirect on this site: a path, never "//host".
function safeNext(p) {
  return p && p.startsWith("/") && !p.startsWith("//") && !p.startsWith("/\\") ? p : "/";
}
