// The API client: JSON over fetch on the same origin, problem+json errors as
// ApiError, the session (cookie + CSRF token) and optimistic concurrency with
// If-Match.

/** ApiError is a failed request: an RFC 9457 problem and its HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    /** errors is the list of {field, message} of a validation problem. */
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
  /** slug is the last part of the problem type, e.g. "validation". */
  get slug() {
    return String(this.problem.type || "").split("/").pop();
  }
  get correlationId() {
    return this.problem.correlation_id || "";
  }
}

/**
 * session is the signed-in state: {authenticated, username}. It dispatches
 * "change" when that changes.
 */
export const session = Object.assign(new EventTarget(), { authenticated: false, username: "" });
let csrfToken = "";

function setSession(authenticated, username = "", token = "") {
  const changed = authenticated !== session.authenticated || username !== session.username;
  session.authenticated = authenticated;
  session.username = username;
  csrfToken = token;
  if (changed) session.dispatchEvent(new Event("change"));
}

/**
 * request sends a JSON request and resolves to {data, etag}. It rejects with
 * ApiError for any non-2xx answer and for a network failure, and with the
 * AbortError of an aborted signal.
 */
export async function request(method, path, { body, ifMatch, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (ifMatch) headers["If-Match"] = ifMatch;
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { title: "Network error", detail: "The server could not be reached. Check the connection and try again." });
  }
  const etag = res.headers.get("ETag");
  const type = res.headers.get("Content-Type") || "";
  const data = res.status !== 204 && type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const problem = data && typeof data === "object" ? data : { title: res.statusText || `HTTP ${res.status}` };
    if (res.status === 401 && session.authenticated && !path.startsWith("/api/auth/")) setSession(false);
    throw new ApiError(res.status, problem);
  }
  return { data, etag };
}

/** itemETag is the validator to send back with If-Match when changing item. */
export function itemETag(item, etag) {
  return etag || `"v${item.version}"`;
}

export const inventory = {
  list: (params, signal) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    return request("GET", `/api/inventory?${q}`, { signal });
  },
  get: (id, signal) => request("GET", `/api/inventory/${encodeURIComponent(id)}`, { signal }),
  create: (item) => request("POST", "/api/inventory", { body: item }),
  replace: (id, item, etag) => request("PUT", `/api/inventory/${encodeURIComponent(id)}`, { body: item, ifMatch: etag }),
  remove: (id, etag) => request("DELETE", `/api/inventory/${encodeURIComponent(id)}`, { ifMatch: etag }),
  refresh: (id) => request("POST", `/api/inventory/${encodeURIComponent(id)}/refresh`),
};

/** importCompose sends a compose file; dryRun only previews the changes. */
export const importCompose = (body, dryRun) =>
  request("POST", `/api/import/compose${dryRun ? "?dry_run=true" : ""}`, { body });

export const status = (signal) => request("GET", "/api/status", { signal });

export const auth = {
  /** refresh asks the API who is signed in; a failure counts as signed out. */
  async refresh() {
    try {
      const { data } = await request("GET", "/api/auth/session");
      setSession(Boolean(data && data.authenticated), data?.username || "", data?.csrf_token || "");
    } catch {
      setSession(false);
    }
  },
  async login(username, password) {
    const { data } = await request("POST", "/api/auth/login", { body: { username, password } });
    setSession(true, data?.username || username, data?.csrf_token || "");
  },
  async logout() {
    try {
      await request("POST", "/api/auth/logout");
    } finally {
      setSession(false);
    }
  },
};
