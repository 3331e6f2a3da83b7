// Alerts from every station: filter, acknowledge, resolve.
import { get, post } from "../lib/api.js";
import { ago, badge, dateTime } from "../lib/format.js";
import { field, h, mount, toast } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { itemsOf } from "./crud.js";

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

export async function render(root) {
  const manage = can("alerts:manage");
  const state = { status: "open", severity: "", alerts: [] };
  const tbody = h("tbody");
  const summary = h("span.muted.small", { "aria-live": "polite" });

  let loads = 0;
  async function load() {
    const mine = ++loads;
    const unresolved = state.status === "unresolved";
    const params = { status: unresolved ? "" : state.status, open_only: unresolved || "", severity: state.severity, limit: 500 };
    const alerts = itemsOf(await get("/api/alerts", params), "alerts");
    if (mine !== loads) return; // a newer filter was chosen meanwhile
    alerts.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3)
      || String(b.created_at).localeCompare(String(a.created_at)));
    state.alerts = alerts;
    paint();
  }

  async function act(alert, verb) {
    try {
      await post(`/api/alerts/${alert.id}/${verb}`, {});
      toast(`Alert “${alert.title}” ${verb === "acknowledge" ? "acknowledged" : "resolved"}`);
      await load();
    } catch (error) {
      toast(`Could not ${verb}: ${error.message}`, "error");
    }
  }

  function paint() {
    const open = state.alerts.filter((a) => a.status === "open").length;
    summary.textContent = `${state.alerts.length} shown, ${open} open`;
    mount(tbody, state.alerts.length ? state.alerts.map((a) => h("tr", { "data-alert-id": a.id },
      h("td", badge(a.severity)),
      h("td", h("strong", a.title), a.message ? h("div.small.muted", a.message.slice(0, 200)) : null),
      h("td", badge(a.status)),
      h("td.hide-sm", a.station_id || "—"),
      h("td.hide-md", [a.node_id, a.zone].filter(Boolean).join(" · ") || "—",
        a.lat != null && a.lon != null ? h("div.small.muted", `${Number(a.lat).toFixed(5)}, ${Number(a.lon).toFixed(5)}`) : null),
      h("td.nowrap", { title: dateTime(a.created_at) }, ago(a.created_at),
        a.acknowledged_by ? h("div.small.muted", `ack: ${a.acknowledged_by}`) : null,
        a.resolved_by ? h("div.small.muted", `resolved: ${a.resolved_by}`) : null),
      h("td.actions", manage ? [
        a.status === "open" ? h("button.btn.btn-small", { type: "button", "data-action": "acknowledge", onclick: () => act(a, "acknowledge") }, "Acknowledge") : null,
        a.status !== "resolved" ? h("button.btn.btn-small", { type: "button", "data-action": "resolve", onclick: () => act(a, "resolve") }, "Resolve") : null,
      ] : null)))
      : h("tr", h("td.empty", { colspan: 7 }, "No alerts match.")));
  }

  mount(root,
    h("div.page-head", h("h1", "Alerts"), summary),
    h("div.card",
      h("div.toolbar",
        field("Status", h("select", { id: "alert-status", onchange: (e) => { state.status = e.target.value; load(); } },
          [["open", "Open"], ["acknowledged", "Acknowledged"], ["unresolved", "Not resolved"], ["resolved", "Resolved"], ["", "Any"]]
            .map(([v, l]) => h("option", { value: v, selected: v === state.status }, l)))),
        field("Severity", h("select", { id: "alert-severity", onchange: (e) => { state.severity = e.target.value; load(); } },
          h("option", { value: "" }, "Any"), ["critical", "warning", "info"].map((s) => h("option", { value: s }, s))))),
      h("div.table-wrap", h("table", { id: "alert-table" },
        h("thead", h("tr", h("th", "Severity"), h("th", "Alert"), h("th", "Status"), h("th.hide-sm", "Station"),
          h("th.hide-md", "Where"), h("th", "Raised"), h("th", h("span.sr-only", "Actions")))),
        tbody))));
  await load();
  const timer = setInterval(() => { if (!document.hidden) load().catch(() => {}); }, 10000);
  return () => clearInterval(timer);
}
