// ProcessMonitor: executions appear and change state live (Server-Sent Events), with KPIs,
// performance charts, and the detail of one execution. Updates are batched per animation frame.
import { get, getAll } from "../lib/api.js";
import { ago, badge, duration, parseTime, percent } from "../lib/format.js";
import { frameBatch, h, mount } from "../lib/dom.js";
import * as live from "../lib/live.js";
import { barsChart, columnsChart, legend, outcome } from "./charts.js";
import { createDetail } from "./detail.js";

const PAGE_SIZE = 50;
const KEEP = 5000; // executions kept in memory for the list and the charts
const ACTIVE = new Set(["running", "waiting", "queued"]);

export async function render(root, { params }) {
  const state = { executions: new Map(), processes: new Map(), overview: null, filter: { status: "", process: "" }, page: 0, paused: false };
  const processName = (id) => state.processes.get(id)?.name;
  const detail = createDetail({ processName });
  const tbody = h("tbody");
  const pager = h("div.pager");
  const kpis = h("div.kpis");
  const overTime = h("div");
  const rateChart = h("div");
  const durationChart = h("div");
  const countText = h("span.muted.small", { "aria-live": "off" });
  const processSelect = h("select", { id: "monitor-process", onchange: (e) => setFilter({ process: e.target.value }) });
  const pauseButton = h("button.btn", { type: "button", id: "monitor-pause", "aria-pressed": "false", onclick: () => {
    state.paused = !state.paused;
    pauseButton.setAttribute("aria-pressed", String(state.paused));
    pauseButton.textContent = state.paused ? "Resume live list" : "Pause live list";
    paintList();
  } }, "Pause live list");

  function merge(rows) {
    for (const row of rows) {
      const known = state.executions.get(row.id);
      if (known && row.updated_at && known.updated_at && row.updated_at < known.updated_at) continue;
      state.executions.set(row.id, known ? { ...known, ...row } : row);
      if (row.process && state.processes.has(row.process_id)) Object.assign(state.processes.get(row.process_id), row.process);
    }
    if (state.executions.size > KEEP) {
      const ids = [...state.executions.keys()].sort((a, b) => a - b);
      for (const id of ids.slice(0, state.executions.size - KEEP)) state.executions.delete(id);
    }
  }

  function filtered() {
    const { status, process } = state.filter;
    const rows = [];
    for (const ex of state.executions.values()) {
      if (status && ex.status !== status) continue;
      if (process && String(ex.process_id) !== process) continue;
      rows.push(ex);
    }
    rows.sort((a, b) => (b.started_at || "").localeCompare(a.started_at || "") || b.id - a.id);
    return rows;
  }

  function rowFor(ex) {
    const selected = detail.currentId() === ex.id;
    return h("tr.clickable", { "data-execution-id": ex.id, "data-status": ex.status, class: selected ? "selected" : null,
      tabindex: "0", "aria-selected": selected ? "true" : "false",
      onclick: () => select(ex.id), onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(ex.id); } } },
    h("td.nowrap", { title: ex.started_at || "" }, `#${ex.id} · ${ago(ex.started_at)}`),
    h("td", ex.process_name || processName(ex.process_id) || `process ${ex.process_id}`),
    h("td.hide-sm", ex.station_id || "—"),
    h("td", badge(ex.status)),
    h("td.num.hide-sm", `${ex.steps_completed ?? 0}/${ex.total_steps ?? "?"}`),
    h("td.num", duration(ex.execution_time_ms)));
  }

  function paintList() {
    if (state.paused) return;
    const rows = filtered();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    mount(tbody, rows.length ? rows.slice(start, start + PAGE_SIZE).map(rowFor)
      : h("tr", h("td.empty", { colspan: 6 }, "No executions yet. Run a process and watch it here.")));
    countText.textContent = `${rows.length} executions shown`;
    mount(pager,
      h("button.btn.btn-small", { type: "button", disabled: state.page === 0, onclick: () => { state.page -= 1; paintList(); } }, "‹ Newer"),
      h("span.small", `Page ${state.page + 1} of ${pages}`),
      h("button.btn.btn-small", { type: "button", disabled: state.page >= pages - 1, onclick: () => { state.page += 1; paintList(); } }, "Older ›"));
  }

  function paintKpis() {
    const o = state.overview || {};
    let running = 0;
    for (const ex of state.executions.values()) if (ACTIVE.has(ex.status)) running += 1;
    const cards = [
      ["Executions", o.total_executions ?? state.executions.size],
      ["Success rate", percent(o.success_rate)],
      ["Average duration", duration(o.avg_execution_time)],
      ["Running now", running],
      ["Active processes", o.active_processes ?? o.total_processes ?? state.processes.size],
    ];
    mount(kpis, cards.map(([label, value]) => h("div.kpi", h("div.label", label), h("div.value", String(value)))));
  }

  function paintCharts() {
    const minutes = 30;
    const now = Date.now();
    const first = Math.floor(now / 60000) * 60000 - (minutes - 1) * 60000;
    const buckets = Array.from({ length: minutes }, (_, i) => ({ start: new Date(first + i * 60000), counts: {} }));
    for (const ex of state.executions.values()) {
      const t = parseTime(ex.started_at)?.getTime();
      if (t === undefined || t < first) continue;
      const b = buckets[Math.min(minutes - 1, Math.floor((t - first) / 60000))];
      const key = outcome(ex.status);
      b.counts[key] = (b.counts[key] || 0) + 1;
    }
    const width = Math.max(320, overTime.clientWidth || 640);
    mount(overTime, columnsChart(buckets, { title: "Executions per minute, last 30 minutes", width }), legend());
    const busiest = [...state.processes.values()].filter((p) => p.execution_count > 0)
      .sort((a, b) => b.execution_count - a.execution_count).slice(0, 8);
    mount(rateChart, barsChart(busiest.map((p) => ({ label: p.name, value: p.success_rate ?? 0, text: percent(p.success_rate),
      color: (p.success_rate ?? 0) >= 0.9 ? "#17693a" : (p.success_rate ?? 0) >= 0.5 ? "#b07d00" : "#a61b12" })),
    { title: "Success rate per process", max: 1, width: Math.max(320, rateChart.clientWidth || 420) }));
    mount(durationChart, barsChart(busiest.map((p) => ({ label: p.name, value: p.avg_execution_time ?? 0, text: duration(p.avg_execution_time) })),
      { title: "Average duration per process", width: Math.max(320, durationChart.clientWidth || 420) }));
  }

  const repaintList = frameBatch(paintList);
  let chartsTimer = null;
  let overviewDue = false;
  const refreshOverview = () => get("/api/processes/analytics/overview")
    .then((o) => { state.overview = o; paintKpis(); }).catch(() => {});
  const repaintSoon = (finished) => {
    repaintList();
    overviewDue ||= finished;
    if (!chartsTimer) {
      chartsTimer = setTimeout(() => {
        chartsTimer = null;
        paintKpis();
        paintCharts();
        if (overviewDue) { overviewDue = false; refreshOverview(); }
      }, 1000);
    }
  };

  function select(id) {
    history.replaceState(null, "", `#/monitor/${id}`);
    detail.show(id).then(() => detail.el.scrollIntoView({ block: "nearest" }));
    paintList();
  }

  async function reload() {
    const { status, process } = state.filter;
    const result = await get("/api/processes/executions", { limit: 500, status, process_id: process });
    merge(result.executions || []);
    paintList();
  }

  function setFilter(change) {
    Object.assign(state.filter, change);
    state.page = 0;
    paintList();
    reload().catch(() => {});
  }

  const stops = [
    live.on("executions", (rows) => {
      merge(rows);
      if (rows.some((r) => r.id === detail.currentId())) detail.refresh();
      repaintSoon(rows.some((r) => !ACTIVE.has(r.status)));
    }),
    live.on("steps", (rows) => {
      if (rows.some((r) => r.execution_id === detail.currentId())) detail.refresh();
    }),
  ];
  const clock = setInterval(() => { repaintList(); paintCharts(); }, 15000);
  const overviewTimer = setInterval(refreshOverview, 30000);

  mount(root,
    h("div.page-head", h("h1", "Monitor"), h("span.muted.small", "Executions appear and change here as they happen.")),
    kpis,
    h("div.grid-2",
      h("section.card", h("h2", "Executions over time"), overTime),
      h("section.card", h("h2", "Per process"), h("h3.small.muted", "Success rate"), rateChart,
        h("h3.small.muted", "Average duration"), durationChart)),
    h("div.split",
      h("section.card", { "aria-labelledby": "exec-title" },
        h("div.row", h("h2", { id: "exec-title" }, "Executions"), h("span.grow"), countText),
        h("div.toolbar",
          h("div.field", h("label", { for: "monitor-status" }, "Status"),
            h("select", { id: "monitor-status", onchange: (e) => setFilter({ status: e.target.value }) },
              h("option", { value: "" }, "Any status"),
              ["running", "waiting", "queued", "completed", "failed", "timeout", "interrupted", "dropped", "cancelled"]
                .map((st) => h("option", { value: st }, st)))),
          h("div.field", h("label", { for: "monitor-process" }, "Process"), processSelect),
          pauseButton),
        h("div.table-wrap", h("table", { id: "execution-table" },
          h("thead", h("tr", h("th", "Started"), h("th", "Process"), h("th.hide-sm", "Station"), h("th", "Status"),
            h("th.num.hide-sm", "Steps"), h("th.num", "Duration"))),
          tbody)),
        pager),
      detail.el));
  paintList();

  const [processes, overview] = await Promise.all([
    getAll("/api/processes", "processes").catch(() => []),
    get("/api/processes/analytics/overview").catch(() => null),
  ]);
  state.processes = new Map(processes.map((p) => [p.id, p]));
  state.overview = overview;
  mount(processSelect, h("option", { value: "" }, "Any process"),
    processes.slice().sort((a, b) => a.name.localeCompare(b.name)).map((p) => h("option", { value: p.id }, p.name)));
  await reload();
  paintKpis();
  paintCharts();
  if (params[0]) select(Number(params[0]));

  return () => {
    stops.forEach((stop) => stop());
    clearInterval(clock);
    clearInterval(overviewTimer);
    clearTimeout(chartsTimer);
    detail.stop();
  };
}
