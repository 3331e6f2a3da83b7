// Stations: online or offline, last sync, outbox depth, radio state, airtime; their processes.
import { get } from "../lib/api.js";
import { ago, badge, dateTime, percent } from "../lib/format.js";
import { h, mount } from "../lib/dom.js";
import { itemsOf } from "./crud.js";

const first = (...values) => values.find((v) => v !== undefined && v !== null);

/** What the page shows of a station (GET /api/stations: the sync's view of it). */
export function stationFacts(s) {
  const radio = s.radio_state && typeof s.radio_state === "object" ? s.radio_state : null;
  let radioState = "unknown";
  if (radio) {
    if (radio.url === "none") radioState = "no radio";
    else radioState = radio.connected ? "connected" : "disconnected";
  }
  const used = first(typeof s.airtime_used === "number" ? s.airtime_used : undefined, radio?.airtime_used_ms);
  const budget = radio?.airtime_budget_ms;
  return {
    id: first(s.id, s.station_id, "?"),
    online: Boolean(s.online),
    lastSync: s.last_sync,
    lastSeen: s.last_seen,
    outbox: s.outbox_depth,
    radioState,
    radioError: radio?.last_error || null,
    airtime: used != null && budget ? used / budget : null,
    airtimeText: used != null ? `${(used / 1000).toFixed(1)} s${budget ? ` of ${Math.round(budget / 1000)} s` : ""}` : null,
    processes: s.assigned_processes || [],
    engine: s.engine || null,
    // Agent version and sync protocol from its last hello (a 1.0 station reports no version).
    version: s.protocol_version ? `${s.agent_version || "version not reported"} (protocol ${s.protocol_version})` : null,
  };
}

const RADIO_STATUS = { connected: "ok", disconnected: "failed", "no radio": "idle", unknown: "idle" };

export async function render(root) {
  const grid = h("div.grid", { id: "station-grid" });
  async function load() {
    const stations = itemsOf(await get("/api/stations"), "stations");
    mount(grid, stations.length ? stations.map((s) => {
      const f = stationFacts(s);
      return h("article.card", { "data-station-id": f.id },
        h("div.row", h("h2", f.id), h("span.grow"), badge(f.online ? "online" : "offline", f.online ? "Online" : "Offline")),
        h("dl.facts",
          h("dt", "Last sync"), h("dd", { title: dateTime(f.lastSync) }, ago(f.lastSync)),
          h("dt", "Last heard"), h("dd", { title: dateTime(f.lastSeen) }, ago(f.lastSeen)),
          h("dt", "Outbox"), h("dd", f.outbox == null ? "—" : `${f.outbox} record${f.outbox === 1 ? "" : "s"} waiting`),
          h("dt", "Radio"), h("dd", badge(RADIO_STATUS[f.radioState], f.radioState), f.radioError ? h("div.small.muted", f.radioError) : null),
          h("dt", "Airtime"), h("dd", f.airtime == null ? (f.airtimeText || "—") : h("span.rate",
            h("span.rate-bar", { "aria-hidden": "true" }, h("span", { style: { width: `${Math.min(100, Math.round(f.airtime * 100))}%` } })),
            `${percent(f.airtime)} (${f.airtimeText})`)),
          f.version ? [h("dt", "Agent"), h("dd", f.version)] : null,
          f.engine ? [h("dt", "Engine"), h("dd", `${f.engine.processes_loaded ?? "?"} processes loaded, queue ${f.engine.queue_depth ?? 0}`)] : null),
        h("h3.small.muted", `Processes (${f.processes.length})`),
        f.processes.length ? h("ul.small", f.processes.slice(0, 12).map((p) => h("li", h("a", { href: `#/builder/${p.id}` }, p.name),
          p.is_active === false ? h("span.muted", " (inactive)") : null)),
        f.processes.length > 12 ? h("li.muted", `and ${f.processes.length - 12} more`) : null) : h("p.small.muted", "None."));
    }) : h("p.empty", "No station has reported yet."));
  }
  mount(root, h("div.page-head", h("h1", "Stations"), h("span.muted.small", "Refreshed every 15 s")), grid);
  await load();
  const timer = setInterval(() => { if (!document.hidden) load().catch(() => {}); }, 15000);
  return () => clearInterval(timer);
}
