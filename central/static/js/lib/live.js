// Server-Sent Events from GET /api/events/stream: one connection shared by all pages.
// Events: "executions" and "steps" carry arrays of changed rows; the browser's EventSource
// reconnects on its own and resumes from the last event id.

const listeners = new Map();
const statusListeners = new Set();
let source = null;
let state = "off";
let retryTimer = null;

function setState(next) {
  state = next;
  statusListeners.forEach((fn) => fn(state));
}

function dispatch(type, event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  (listeners.get(type) || []).forEach((fn) => fn(data));
}

export function connect() {
  if (source) return;
  source = new EventSource("/api/events/stream");
  setState("connecting");
  source.addEventListener("open", () => setState("on"));
  source.addEventListener("error", () => {
    if (!source) return;
    setState("retry");
    if (source.readyState === EventSource.CLOSED) {
      // refused (503 when central has too many streams, 401 after logout): try again later
      source = null;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, 10000);
    }
  });
  for (const type of ["executions", "steps", "hello"]) {
    source.addEventListener(type, (event) => dispatch(type, event));
  }
}

export function disconnect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setState("off");
}

/** Listen for an event type; returns the function that stops listening. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

export function onStatus(fn) {
  statusListeners.add(fn);
  fn(state);
  return () => statusListeners.delete(fn);
}
