// ProcessList: every process with status and metrics; filter, sort, page; quick actions;
// live updates from the server's event stream (no reload).
import { del, get, getAll, post } from "../lib/api.js";
import { ago, badge, duration, percent } from "../lib/format.js";
import { dialog, field, frameBatch, h, mount, toast } from "../lib/dom.js";
import * as live from "../lib/live.js";
import { can } from "../lib/session.js";

const PAGE_SIZE = 50;
const SORTS = {
  name: { label: "Name", key: (p) => (p.name || "").toLowerCase(), dir: 1 },
  last_executed: { label: "Last executed", key: (p) => p.last_executed || "", dir: -1 },
  success_rate: { label: "Success rate", key: (p) => (p.execution_count ? p.success_rate ?? 0 : -1), dir: -1 },
};

export function processStatus(p, running) {
  if (p.paused) return ["paused", "Paused"];
  if (!p.is_active) return ["inactive", "Inactive"];
  if (running) return ["running", "Running"];
  return ["active", "Active"];
}

export function creatorName(p) {
  return p.created_by_name || p.creator || (p.created_by ? `user #${p.created_by}` : "—");
}

export async function render(root) {
  const state = {
    processes: [], byId: new Map(), templates: new Map(), running: new Map(),
    filter: { text: "", status: "", template: "", creator: "" },
    sort: "name", dir: 1, page: 0,
  };
  const tbody = h("tbody");
  const summary = h("span.muted.small", { "aria-live": "polite" });
  const pager = h("div.pager");
  const canExecute = can("processes:execute");
  const canEdit = can("processes:create");

  const creatorSelect = h("select", { id: "filter-creator", onchange: (e) => update({ creator: e.target.value }) });
  const templateSelect = h("select", { id: "filter-template", onchange: (e) => update({ template: e.target.value }) });
  const sortSelect = h("select", { id: "sort-by", onchange: (e) => setSort(e.target.value) },
    Object.entries(SORTS).map(([key, s]) => h("option", { value: key }, s.label)));
  const dirButton = h("button.btn.btn-icon", { type: "button", onclick: () => { state.dir = -state.dir; paint(); } });

  function update(filter) {
    Object.assign(state.filter, filter);
    state.page = 0;
    paint();
  }

  function setSort(key) {
    state.sort = key;
    state.dir = SORTS[key].dir;
    state.page = 0;
    paint();
  }

  function visible() {
    const { text, status, template, creator } = state.filter;
    const needle = text.trim().toLowerCase();
    const rows = state.processes.filter((p) => {
      if (needle && !`${p.name} ${p.description || ""}`.toLowerCase().includes(needle)) return false;
      if (status && processStatus(p, state.running.has(p.id))[0] !== status) return false;
      if (template && String(p.template_id ?? "none") !== template) return false;
      if (creator && creatorName(p) !== creator) return false;
      return true;
    });
    const { key } = SORTS[state.sort];
    const dir = state.dir;
    rows.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * dir || a.id - b.id;
    });
    return rows;
  }

  function actionsFor(p) {
    const out = [];
    if (canExecute && p.is_active && !p.paused) {
      out.push(h("button.btn.btn-small", { type: "button", "data-action": "execute", onclick: () => execute(p) }, "▶ Execute"));
    }
    if (canEdit) {
      out.push(h("a.btn.btn-small", { href: `#/builder/${p.id}`, "data-action": "edit" }, "Edit"));
      if (p.is_active) {
        out.push(h("button.btn.btn-small.btn-danger", { type: "button", "data-action": "deactivate", onclick: () => deactivate(p) }, "Deactivate"));
      }
    }
    return out;
  }

  function rowFor(p) {
    const [status, label] = processStatus(p, state.running.has(p.id));
    const rate = p.execution_count ? p.success_rate ?? 0 : null;
    const template = p.template_id ? state.templates.get(p.template_id)?.name || `#${p.template_id}` : "—";
    return h("tr", { "data-process-id": p.id, "data-name": p.name },
      h("td", h("a", { href: `#/builder/${p.id}` }, h("strong", p.name)),
        p.description ? h("div.muted.small", p.description.slice(0, 120)) : null),
      h("td", badge(status, label)),
      h("td.hide-sm", template),
      h("td.hide-md", creatorName(p)),
      h("td.hide-md", (p.stations || ["*"]).map((s) => h("span.tag", s === "*" ? "all stations" : s))),
      h("td.nowrap.hide-sm", { title: p.last_executed || "" }, ago(p.last_executed)),
      h("td", rate === null ? h("span.muted", "—") : h("span.rate",
        h("span.rate-bar", { "aria-hidden": "true" }, h("span", { style: { width: `${Math.round(rate * 100)}%` } })),
        percent(rate))),
      h("td.num.hide-sm", String(p.execution_count ?? 0)),
      h("td.num.hide-md", duration(p.avg_execution_time)),
      h("td.actions", actionsFor(p)));
  }

  function paint() {
    const rows = visible();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    const slice = rows.slice(start, start + PAGE_SIZE);
    mount(tbody, slice.length ? slice.map(rowFor)
      : h("tr", h("td.empty", { colspan: 10 }, state.processes.length ? "No process matches these filters." : "No processes yet.")));
    summary.textContent = `${rows.length} of ${state.processes.length} processes`;
    dirButton.textContent = state.dir > 0 ? "↑" : "↓";
    dirButton.setAttribute("aria-label", state.dir > 0 ? "Ascending; switch to descending" : "Descending; switch to ascending");
    sortSelect.value = state.sort;
    mount(pager,
      h("span.muted.small", rows.length ? `${start + 1}–${Math.min(start + PAGE_SIZE, rows.length)}` : "0"),
      h("button.btn.btn-small", { type: "button", disabled: state.page === 0, onclick: () => { state.page -= 1; paint(); } }, "‹ Previous"),
      h("span.small", `Page ${state.page + 1} of ${pages}`),
      h("button.btn.btn-small", { type: "button", disabled: state.page >= pages - 1, onclick: () => { state.page += 1; paint(); } }, "Next ›"));
  }
  const repaint = frameBatch(paint);

  function fillFilters() {
    const creators = [...new Set(state.processes.map(creatorName))].sort();
    mount(creatorSelect, h("option", { value: "" }, "Anyone"), creators.map((c) => h("option", { value: c }, c)));
    creatorSelect.value = state.filter.creator;
    mount(templateSelect, h("option", { value: "" }, "Any template"), h("option", { value: "none" }, "No template"),
      [...state.templates.values()].map((t) => h("option", { value: String(t.id) }, t.name)));
    templateSelect.value = state.filter.template;
  }

  async function execute(p) {
    try {
      const result = await post(`/api/processes/${p.id}/execute`, { trigger_data: {} });
      const id = result?.execution_id;
      toast(id ? `Execution #${id} of “${p.name}” started` : `“${p.name}” was handed to its stations`);
      if (id) state.running.set(p.id, id);
      repaint();
    } catch (error) {
      toast(`Could not execute “${p.name}”: ${error.message}`, "error");
    }
  }

  async function deactivate(p) {
    const ok = await dialog(`Deactivate “${p.name}”?`,
      h("p", "Its triggers stop firing on every station. Executions already running finish."),
      { submitLabel: "Deactivate", danger: true });
    if (!ok) return;
    try {
      await del(`/api/processes/${p.id}`);
      p.is_active = false;
      toast(`“${p.name}” deactivated`);
      paint();
    } catch (error) {
      toast(`Could not deactivate: ${error.message}`, "error");
    }
  }

  // Live: executions change -> the process's counters, last run and running state.
  const refreshQueue = new Set();
  let refreshTimer = null;
  async function refreshProcesses() {
    refreshTimer = null;
    const ids = [...refreshQueue];
    refreshQueue.clear();
    for (const id of ids.slice(0, 20)) {
      try {
        const fresh = await get(`/api/processes/${id}`);
        const known = state.byId.get(id);
        if (known && fresh) Object.assign(known, pick(fresh));
      } catch { /* gone or not allowed: keep what we have */ }
    }
    repaint();
  }
  const stopLive = live.on("executions", (rows) => {
    for (const row of rows) {
      const p = state.byId.get(row.process_id);
      if (!p) continue;
      if (["running", "waiting", "queued"].includes(row.status)) state.running.set(p.id, row.id);
      else if (state.running.get(p.id) === row.id || !state.running.has(p.id)) state.running.delete(p.id);
      if (row.process) Object.assign(p, row.process);
      else if (!["running", "waiting", "queued"].includes(row.status)) refreshQueue.add(p.id);
    }
    if (refreshQueue.size && !refreshTimer) refreshTimer = setTimeout(refreshProcesses, 1000);
    repaint();
  });
  const clock = setInterval(repaint, 30000); // keep "3 min ago" honest

  mount(root,
    h("div.page-head", h("h1", "Processes"), summary, h("span.grow"),
      canEdit ? h("a.btn.btn-primary", { href: "#/builder/new", id: "new-process" }, "+ New process") : null),
    h("div.card",
      h("div.toolbar",
        h("div.field.grow", h("label", { for: "filter-text" }, "Search"),
          h("input", { id: "filter-text", type: "search", placeholder: "Name or description", oninput: (e) => update({ text: e.target.value }) })),
        field("Status", h("select", { id: "filter-status", onchange: (e) => update({ status: e.target.value }) },
          h("option", { value: "" }, "Any status"),
          [["active", "Active"], ["running", "Running now"], ["paused", "Paused"], ["inactive", "Inactive"]]
            .map(([v, l]) => h("option", { value: v }, l)))),
        field("Template", templateSelect),
        field("Creator", creatorSelect),
        h("div.field", h("label", { for: "sort-by" }, "Sort by"), h("div.row", sortSelect, dirButton))),
      h("div.table-wrap", h("table", { id: "process-table" },
        h("thead", h("tr", h("th", "Name"), h("th", "Status"), h("th.hide-sm", "Template"), h("th.hide-md", "Creator"),
          h("th.hide-md", "Stations"), h("th.hide-sm", "Last executed"), h("th", "Success"), h("th.num.hide-sm", "Runs"),
          h("th.num.hide-md", "Avg time"), h("th", h("span.sr-only", "Actions")))),
        tbody)),
      pager));
  paint();

  const [processes, templates, admins] = await Promise.all([
    getAll("/api/processes", "processes"),
    get("/api/processes/templates").catch(() => ({ templates: [] })),
    can("users:admin") ? get("/api/admin/users").then((r) => r.users || []).catch(() => []) : [],
  ]);
  const names = new Map(admins.map((u) => [u.id, u.username]));
  for (const p of processes) if (names.has(p.created_by)) p.created_by_name = names.get(p.created_by);
  state.processes = processes;
  state.byId = new Map(processes.map((p) => [p.id, p]));
  state.templates = new Map((templates?.templates || []).map((t) => [t.id, t]));
  fillFilters();
  paint();

  return () => {
    stopLive();
    clearInterval(clock);
    clearTimeout(refreshTimer);
  };
}

function pick(p) {
  const keys = ["name", "description", "is_active", "paused", "execution_count", "last_executed",
    "success_rate", "avg_execution_time", "stations", "template_id"];
  return Object.fromEntries(keys.filter((k) => k in p).map((k) => [k, p[k]]));
}
