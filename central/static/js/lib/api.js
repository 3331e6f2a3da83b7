// The one way the page talks to central: JSON over fetch, with the session cookie and the
// CSRF header on every state-changing request.

let csrfToken = null;
const unauthorizedHandlers = [];

export class ApiError extends Error {
  constructor(status, body) {
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    const message = body?.error || body?.message
      || (errors.length ? errors.map((e) => `${e.path}: ${e.reason}`).join("; ") : `HTTP ${status}`);
    super(typeof message === "string" ? message : JSON.stringify(message));
    this.status = status;
    this.body = body;
    this.errors = errors;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || null;
}

export function onUnauthorized(handler) {
  unauthorizedHandlers.push(handler);
}

export function query(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

export async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !path.startsWith("/api/auth/")) {
      unauthorizedHandlers.forEach((fn) => fn(error));
    }
    throw error;
  }
  return data;
}

export const get = (path, params, opts) => request("GET", path + query(params), undefined, opts);
export const post = (path, body = {}, opts) => request("POST", path, body, opts);
export const put = (path, body, opts) => request("PUT", path, body, opts);
export const del = (path, opts) => request("DELETE", path, undefined, opts);

/** Every item of a paged list endpoint ({<key>: [...], total}), fetched page by page. */
export async function getAll(path, key, params = {}, pageSize = 500) {
  const items = [];
  for (let offset = 0; ; offset += pageSize) {
    const page = await get(path, { ...params, limit: pageSize, offset });
    const batch = page?.[key] || [];
    items.push(...batch);
    const total = typeof page?.total === "number" ? page.total : null;
    if (batch.length < pageSize || (total !== null && items.length >= total)) break;
  }
  return items;
}
