// "Test this process": POST /api/processes/try-run {definition, event} runs the definition in a
// throw-away database against a sample event and shows each step before anything is saved.
import { post } from "../lib/api.js";
import { badge, duration, json } from "../lib/format.js";
import { h } from "../lib/dom.js";
import { referencedEventFields } from "./schema.js";

const SAMPLES = {
  message_received: { text: "SOS", from_id: "!a1b2c3d4", from_name: "Anna", to_id: "^all", direct: false, channel: 0 },
  zone_entry: { zone: "north", node_id: "!a1b2c3d4", lat: 46.5, lon: 7.9 },
  zone_exit: { zone: "north", node_id: "!a1b2c3d4", lat: 46.5, lon: 7.9 },
  alert_created: { title: "Battery low", severity: "warning", node_id: "!a1b2c3d4" },
  time_schedule: { scheduled_time: "2026-01-31T19:00:00+00:00" },
  manual: {},
};

export function sampleEvent(definition, type) {
  const data = { ...(SAMPLES[type] || {}) };
  for (const name of referencedEventFields(definition)) if (!(name in data)) data[name] = "";
  return data;
}

/** opts: {getDefinition(), catalog, showErrors(errors)} */
export function createTryRun(opts) {
  const typeSelect = h("select", { id: "tryrun-type" });
  const dataArea = h("textarea.code", { id: "tryrun-data", rows: 6, spellcheck: "false" });
  const output = h("div.tryrun-output", { "aria-live": "polite" });
  const button = h("button.btn.btn-primary", { type: "button", id: "tryrun-run" }, "▶ Run test");
  let lastType = null;

  function refreshTypes() {
    const def = opts.getDefinition();
    const types = new Set(def.triggers.map((t) => opts.catalog.trigger.get(t.trigger_type)?.listens_to || t.trigger_type));
    types.add("manual");
    const current = typeSelect.value || [...types][0];
    typeSelect.replaceChildren(...[...types].map((t) => h("option", { value: t, selected: t === current }, t)));
    if (typeSelect.value !== lastType || !dataArea.value.trim()) {
      lastType = typeSelect.value;
      dataArea.value = json(sampleEvent(def, typeSelect.value));
    }
  }
  typeSelect.addEventListener("change", () => {
    lastType = typeSelect.value;
    dataArea.value = json(sampleEvent(opts.getDefinition(), typeSelect.value));
  });

  async function run() {
    let data;
    try {
      data = dataArea.value.trim() ? JSON.parse(dataArea.value) : {};
    } catch (error) {
      output.replaceChildren(h("p.field-error", `The event data is not valid JSON: ${error.message}`));
      return;
    }
    button.disabled = true;
    output.replaceChildren(h("p.loading", "Running in a throw-away database…"));
    try {
      const result = await post("/api/processes/try-run", { definition: opts.getDefinition(), event: { type: typeSelect.value, data } });
      opts.showErrors([]);
      output.replaceChildren(renderResult(result));
    } catch (error) {
      if (error.errors?.length) {
        opts.showErrors(error.errors);
        output.replaceChildren(h("p.field-error", "The process is not valid yet: see the marked fields."));
      } else {
        output.replaceChildren(h("p.field-error", `The test could not run: ${error.message}`));
      }
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", run);

  const el = h("section.card", { id: "tryrun", "aria-labelledby": "tryrun-title" },
    h("h2", { id: "tryrun-title" }, "Test this process"),
    h("p.small.muted", "Runs the actions against a sample event in a throw-away database. Nothing leaves it: actions that need the radio or the network are shown as what they would do, waits are skipped."),
    h("div.form-row",
      h("div.field", h("label", { for: "tryrun-type" }, "Event type"), typeSelect),
      h("div.field", { style: { gridColumn: "1 / -1" } }, h("label", { for: "tryrun-data" }, "Event data (JSON)"), dataArea)),
    button, output);
  return { el, refreshTypes };
}

function renderResult(result) {
  const ex = result.execution || {};
  const triggers = (result.triggers || []).map((t) => h("li", badge(t.matched ? "completed" : "skipped", t.matched ? "would start" : "would not start"),
    ` trigger ${t.index + 1} (${t.trigger_type})`, t.reason ? h("span.muted", ` — ${t.reason}`) : null));
  const steps = (result.steps || []).map((step) => h("li", { "data-step": step.action_order, "data-status": step.status },
    h("div.head", h("strong", `${step.action_order}. ${step.action_type}`), badge(step.status),
      step.dry_run ? h("span.badge.s-warn", "not run: dry run") : null,
      step.retry_count ? h("span.tag", `attempt ${step.retry_count + 1}`) : null,
      h("span.muted.small", duration(step.execution_time_ms))),
    step.would ? h("p.small", step.would) : null,
    step.error_message ? h("p.field-error", step.error_message) : null,
    !step.dry_run && step.result !== null && step.result !== undefined ? h("pre", json(step.result)) : null));
  return h("div.stack",
    h("div.row", h("strong", "Result:"), badge(ex.status), h("span.muted", `${ex.steps_completed ?? 0} of ${ex.total_steps ?? 0} steps · ${duration(ex.execution_time_ms)}`)),
    ex.error_message ? h("p.field-error", ex.error_message) : null,
    triggers.length ? h("div", h("h3", "Triggers"), h("ul", triggers)) : null,
    h("div", h("h3", "Steps"), steps.length ? h("ol.steps", steps) : h("p.muted", "No step ran.")),
    (result.effects || []).length ? h("div", h("h3", "What it left behind (in the throw-away database)"),
      h("ul", result.effects.map((e) => h("li", e.kind === "alert" ? `alert (${e.severity}): ${e.title}` : `${e.kind} to ${e.to}: ${e.text}`)))) : null,
    (result.logs || []).length ? h("details", h("summary", `Log (${result.logs.length} lines)`),
      h("div.log", result.logs.map((l) => h(`div.${l.level}`, `${l.level.padEnd(7)} ${l.message}`)))) : null,
    (result.notes || []).length ? h("ul.small.muted", result.notes.map((n) => h("li", n))) : null);
}
