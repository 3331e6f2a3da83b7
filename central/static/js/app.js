// The admin page: session, navigation, and a hash router that mounts one page at a time.
import { h, mount, toast } from "./lib/dom.js";
import { onUnauthorized } from "./lib/api.js";
import * as live from "./lib/live.js";
import * as session from "./lib/session.js";

// path -> page module; nav: the label in the header; perm: what the page needs.
const ROUTES = [
  { path: "processes", module: "./pages/processes.js", nav: "Processes", perm: "processes:view" },
  { path: "builder", module: "./builder/builder.js", perm: "processes:view" },
  { path: "monitor", module: "./monitor/monitor.js", nav: "Monitor", perm: "processes:view" },
  { path: "templates", module: "./pages/templates.js", nav: "Templates", perm: "processes:view" },
  { path: "stations", module: "./pages/stations.js", nav: "Stations", perm: "stations:view" },
  { path: "alerts", module: "./pages/alerts.js", nav: "Alerts", perm: "modules:view" },
  { path: "zones", module: "./pages/zones.js", nav: "Zones", perm: "modules:view" },
  { path: "users", module: "./pages/users.js", nav: "Users & groups", perm: "modules:view" },
  { path: "bots", module: "./pages/bots.js", nav: "Bots", perm: "modules:view" },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const navToggle = document.getElementById("nav-toggle");
let cleanup = null;
let renderSeq = 0;

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "processes", params: parts.slice(1), query: new URLSearchParams(queryPart) };
}

function renderNav() {
  const { page } = parseHash();
  const current = page === "builder" ? "processes" : page;
  mount(nav, ROUTES.filter((r) => r.nav && session.can(r.perm)).map((r) =>
    h("a", { href: `#/${r.path}`, "aria-current": r.path === current ? "page" : null,
      onclick: () => { nav.classList.remove("open"); navToggle.setAttribute("aria-expanded", "false"); } },
    r.nav)));
}

function showChrome(visible) {
  for (const id of ["nav", "session", "nav-toggle"]) document.getElementById(id).hidden = !visible;
  const who = session.user();
  document.getElementById("who").textContent = who ? `${who.username} · ${who.role}` : "";
}

async function route() {
  const seq = ++renderSeq;
  if (typeof cleanup === "function") {
    try { cleanup(); } catch (error) { console.error(error); }
  }
  cleanup = null;
  if (!session.user()) {
    showChrome(false);
    const { renderLogin } = await import("./pages/login.js");
    renderLogin(main, start);
    return;
  }
  showChrome(true);
  renderNav();
  const { page, params, query } = parseHash();
  const entry = ROUTES.find((r) => r.path === page);
  if (!entry) {
    location.hash = "#/processes";
    return;
  }
  if (!session.can(entry.perm)) {
    mount(main, h("div.card", h("h1", "Not allowed"), h("p", "Your role may not open this page.")));
    return;
  }
  mount(main, h("p.loading", "Loading…"));
  try {
    const module = await import(entry.module);
    if (seq !== renderSeq) return;
    const root = h("div", { class: `page page-${page}` });
    mount(main, root);
    const result = await module.render(root, { params, query, session });
    if (seq !== renderSeq) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = result;
    document.title = `${entry.nav || "Process builder"} · Firefly`;
    // after a navigation, start the keyboard and screen reader at the page, not the old link
    if (document.activeElement === document.body || nav.contains(document.activeElement)) {
      main.focus({ preventScroll: true });
    }
  } catch (error) {
    console.error(error);
    if (seq === renderSeq) {
      mount(main, h("div.card", h("h1", "This page could not be loaded"), h("p", String(error.message || error))));
    }
  }
}

async function start() {
  await session.load();
  if (session.user()) live.connect();
  else live.disconnect();
  if (!location.hash || location.hash === "#/login") history.replaceState(null, "", "#/processes");
  await route();
}

navToggle.addEventListener("click", () => {
  const open = !nav.classList.contains("open");
  nav.classList.toggle("open", open);
  navToggle.setAttribute("aria-expanded", String(open));
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await session.logout();
  } catch (error) {
    toast(`Log out failed: ${error.message}`, "error");
  }
  live.disconnect();
  history.replaceState(null, "", "#/login");
  await route();
});

live.onStatus((state) => {
  const el = document.getElementById("live");
  el.classList.toggle("on", state === "on");
  el.classList.toggle("retry", state === "retry" || state === "connecting");
  el.querySelector(".live-text").textContent =
    state === "on" ? "live" : state === "off" ? "offline" : "reconnecting";
});

onUnauthorized(async () => {
  if (!session.user()) return;
  await session.load();
  if (!session.user()) {
    toast("Your session ended; please log in again.", "error");
    live.disconnect();
    await route();
  }
});

window.addEventListener("hashchange", route);
start().catch((error) => {
  mount(main, h("div.card", h("h1", "Central cannot be reached"), h("p", String(error.message || error))));
});
