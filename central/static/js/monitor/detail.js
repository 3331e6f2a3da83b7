// One execution: summary, timeline, step-by-step results and errors, searchable log.
import { get } from "../lib/api.js";
import { badge, dateTime, duration, FINISHED, json } from "../lib/format.js";
import { debounce, h, mount } from "../lib/dom.js";
import { timelineChart } from "./charts.js";

function highlight(text, needle) {
  if (!needle) return text;
  const out = [];
  const lower = text.toLowerCase();
  const n = needle.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(n); i >= 0; i = lower.indexOf(n, at)) {
    out.push(text.slice(at, i), h("mark", text.slice(i, i + n.length)));
    at = i + n.length;
  }
  out.push(text.slice(at));
  return out;
}

/** A detail panel; show(id) loads an execution, refresh() reloads it (live updates). */
export function createDetail({ processName }) {
  const el = h("section.card", { id: "execution-detail", "aria-live": "polite" }, h("p.muted", "Select an execution to see its steps."));
  let current = null;
  let logQuery = "";
  let token = 0;

  const logBox = h("div.log", { id: "execution-log", tabindex: "0", "aria-label": "Execution log" });
  const logSearch = h("input", { type: "search", id: "log-search", placeholder: "Search the log", "aria-label": "Search the log" });
  const loadLogs = debounce(async () => {
    if (!current) return;
    const id = current.id;
    try {
      const result = await get(`/api/processes/executions/${id}/logs`, { q: logQuery });
      if (!current || current.id !== id) return;
      const logs = result.logs || [];
      mount(logBox, logs.length ? logs.map((l) => h(`div.${l.level || "info"}`,
        `${(l.at || "").slice(11, 23)} ${String(l.level || "info").padEnd(7)} `, highlight(l.message || "", logQuery)))
        : h("div", logQuery ? `No log line contains “${logQuery}”.` : "No log lines."));
    } catch (error) {
      mount(logBox, h("div.error", `The log could not be loaded: ${error.message}`));
    }
  }, 250);
  logSearch.addEventListener("input", () => { logQuery = logSearch.value.trim(); loadLogs(); });

  function paint(ex) {
    const steps = ex.steps || [];
    const name = ex.process_name || processName(ex.process_id) || `process ${ex.process_id}`;
    mount(el,
      h("div.row", h("h2", `${name} · execution #${ex.id}`), badge(ex.status)),
      h("dl.facts",
        h("dt", "Station"), h("dd", ex.station_id || "—"),
        h("dt", "Triggered by"), h("dd", `${ex.trigger_type || "—"} · ${ex.triggered_by || "system"}`),
        h("dt", "Started"), h("dd", dateTime(ex.started_at)),
        h("dt", "Finished"), h("dd", FINISHED.has(ex.status) ? dateTime(ex.completed_at) : "still running"),
        h("dt", "Duration"), h("dd", duration(ex.execution_time_ms)),
        h("dt", "Steps"), h("dd", `${ex.steps_completed ?? 0} of ${ex.total_steps ?? "?"} completed`)),
      ex.error_message ? h("p.field-error", ex.error_message) : null,
      h("h3", "Timeline"),
      steps.length ? h("div.table-wrap", timelineChart(ex, steps, { width: Math.max(360, el.clientWidth - 34) }))
        : h("p.muted", "No step has run yet."),
      h("h3", "Steps"),
      steps.length ? h("ol.steps", steps.map((st) => h("li", { "data-step": st.action_order, "data-status": st.status },
        h("div.head", h("strong", `${st.action_order}. ${st.action_type}`), badge(st.status),
          st.retry_count ? h("span.tag", `attempt ${st.retry_count + 1}`) : null,
          h("span.muted.small", `${dateTime(st.started_at)} · ${duration(st.execution_time_ms)}`)),
        st.error_message ? h("p.field-error", st.error_message) : null,
        st.result !== null && st.result !== undefined ? h("details", h("summary", "Result"), h("pre", json(st.result))) : null)))
        : h("p.muted", "No steps."),
      h("h3", "Log"),
      h("div.toolbar", logSearch),
      logBox,
      ex.trigger_event ? h("details", h("summary", "Trigger event"), h("pre", json(ex.trigger_event))) : null);
    logSearch.value = logQuery;
  }

  async function load(id) {
    const mine = ++token;
    try {
      const ex = await get(`/api/processes/executions/${id}`);
      if (mine !== token) return;
      current = ex;
      paint(ex);
      loadLogs();
    } catch (error) {
      if (mine === token) mount(el, h("p.field-error", `Execution #${id} could not be loaded: ${error.message}`));
    }
  }

  const refresh = debounce(() => { if (current) load(current.id); }, 300);

  return {
    el,
    show(id) {
      logQuery = "";
      current = { id };
      mount(el, h("p.loading", "Loading…"));
      return load(id);
    },
    refresh,
    currentId: () => current?.id ?? null,
    stop() { refresh.cancel(); loadLogs.cancel(); token += 1; },
  };
}
