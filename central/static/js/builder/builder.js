// ProcessBuilder: a visual editor and a JSON view of one process definition, both editing the
// same object; forms come from the API's JSON Schema; errors (from the API's validation) are
// shown at the field they concern; "Test this process" runs it in a throw-away database.
import { get, getAll, post, put } from "../lib/api.js";
import { debounce, h, mount, toast } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { createCanvas } from "./canvas.js";
import { conditionOps, definitionFrom, itemSchema, parentPath, typeConfigSchemas } from "./schema.js";
import { schemaForm } from "./schema_form.js";
import { createTryRun } from "./tryrun.js";

const SETTINGS_HINTS = {
  name: "What people see in lists and type after !run on a handset",
  mode: "If it is started again while running: single drops the new run, restart cancels the old one, queued waits, parallel runs both",
  max: "How many runs may queue or run at once (modes queued and parallel)",
  stations: "Where it runs: * for every station, station ids, or central",
  is_active: "Inactive processes never start",
};

function blankDefinition() {
  return { name: "", description: "", mode: "single", stations: ["*"], is_active: true, triggers: [], actions: [] };
}

export async function render(root, { params, query }) {
  const id = params[0] && params[0] !== "new" ? Number(params[0]) : null;
  const editable = can("processes:create");
  const [schema, types, templateList] = await Promise.all([
    get("/api/schema/process-definition"),
    get("/api/schema/process-types"),
    get("/api/processes/templates").then((r) => r.templates || []).catch(() => []),
  ]);
  const catalog = {
    trigger: new Map((types.triggers || []).map((t) => [t.type, t])),
    action: new Map((types.actions || []).map((a) => [a.type, a])),
  };
  const schemas = { trigger: typeConfigSchemas(schema, "trigger"), action: typeConfigSchemas(schema, "action") };
  const itemSchemas = { trigger: itemSchema(schema, "trigger"), action: itemSchema(schema, "action") };
  const ops = conditionOps(schema);

  let definition;
  let title = "New process";
  if (id) {
    const process = await get(`/api/processes/${id}`);
    definition = definitionFrom(process, schema);
    title = `Edit: ${process.name}`;
  } else if (query.get("template")) {
    const template = templateList.find((t) => String(t.id) === query.get("template"));
    definition = template ? fromTemplate(template, schema) : blankDefinition();
  } else {
    definition = blankDefinition();
  }

  const state = { dirty: false, live: Boolean(id), errors: [], tab: "visual" };
  const visual = h("div.builder");
  const jsonArea = h("textarea.code.json-editor", { id: "json-editor", spellcheck: "false", "aria-label": "Process definition as JSON", readonly: !editable || null });
  const jsonError = h("p.field-error", { hidden: true, role: "alert" });
  const jsonPane = h("div.card", { hidden: true, id: "json-pane" },
    h("p.small.muted", "The definition exactly as the API stores it. Edit it here and switch back: the visual builder shows the same process."),
    jsonArea, jsonError,
    editable ? h("div.row", h("button.btn", { type: "button", id: "json-apply", onclick: () => applyJson() }, "Apply JSON")) : null);
  const errorsBox = h("div.errors-summary", { hidden: true, role: "alert", id: "errors-summary" });
  const settingsCard = h("section.card", { "aria-labelledby": "settings-title" });
  let canvas;
  let tryRun;

  const validateLive = debounce(async () => {
    if (!state.live || !editable) return;
    try {
      const result = await post("/api/schema/process-definition/validate", { definition: snapshot() });
      showErrors(result.errors || []);
    } catch { /* validation is a convenience; saving validates again */ }
  }, 500);

  function snapshot() {
    return JSON.parse(JSON.stringify(definition));
  }

  function changed(structural) {
    state.dirty = true;
    if (structural) paintVisual();
    if (tryRun) tryRun.refreshTypes();
    validateLive();
  }

  function paintSettings() {
    const keys = ["name", "description", "mode", "max", "stations", "is_active"];
    const subset = { type: "object", required: ["name"], properties: Object.fromEntries(keys.map((k) =>
      [k, { ...schema.properties[k], description: SETTINGS_HINTS[k] || schema.properties[k].description }])) };
    const templateName = definition.template_id ? templateList.find((t) => t.id === definition.template_id)?.name : null;
    mount(settingsCard,
      h("h2", { id: "settings-title" }, "Process"),
      templateName ? h("p.small", "From template ", h("strong", templateName)) : null,
      !id && editable && templateList.length ? h("div.field",
        h("label", { for: "start-template" }, "Start from a template"),
        h("select", { id: "start-template", onchange: (e) => {
          const t = templateList.find((x) => String(x.id) === e.target.value);
          if (!t) return;
          definition = fromTemplate(t, schema);
          changed(true);
          paintAll();
        } }, h("option", { value: "" }, "— blank process —"),
        templateList.map((t) => h("option", { value: t.id }, `${t.name}${t.category ? ` (${t.category})` : ""}`)))) : null,
      schemaForm(subset, definition, "", () => changed(false), { disabled: !editable }));
  }

  function paintVisual() {
    canvas = createCanvas({ definition, schemas, itemSchemas, catalog, ops, disabled: !editable, onChange: changed });
    paintSettings();
    mount(visual, editable ? canvas.palette : null,
      h("div.builder-main", { style: editable ? null : { gridColumn: "1 / -1" } }, errorsBox, settingsCard, canvas.board, tryRun ? tryRun.el : null));
    if (state.errors.length) showErrors(state.errors);
  }

  function paintAll() {
    if (editable) tryRun = tryRun || createTryRun({ getDefinition: snapshot, catalog, showErrors: (errs) => { state.live = true; showErrors(errs); } });
    paintVisual();
    if (tryRun) tryRun.refreshTypes();
  }

  function findTarget(path, reason) {
    const candidates = [];
    const sub = /^([a-z_]+): /.exec(reason || "");
    if (sub) candidates.push(`${path}.${sub[1]}`);
    for (let p = path; p; p = parentPath(p)) candidates.push(p);
    for (const p of candidates) {
      const el = visual.querySelector(`[data-path="${CSS.escape(p)}"]`);
      if (el) return el;
    }
    return null;
  }

  function showErrors(errors) {
    state.errors = errors;
    for (const el of root.querySelectorAll(".field-error.generated")) el.remove();
    for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of root.querySelectorAll(".invalid, .has-error")) el.classList.remove("invalid", "has-error");
    errorsBox.hidden = !errors.length;
    if (!errors.length) return;
    const items = [];
    errors.forEach((error, i) => {
      const target = findTarget(error.path, error.reason);
      const errId = `err-${i}`;
      if (target) {
        const control = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea");
        const message = h("p.field-error.generated", { id: errId, "data-error-path": error.path }, error.reason);
        target.classList.add("invalid");
        if (target.classList.contains("invalid-wrap")) target.after(message);
        else if (target.classList.contains("dropzone") || target.classList.contains("item")) target.prepend(message);
        else target.append(message);
        if (control) {
          control.setAttribute("aria-invalid", "true");
          control.setAttribute("aria-describedby", errId);
        }
        target.closest(".item")?.classList.add("has-error");
        for (let d = target.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
      }
      items.push(h("li", h("code", error.path), ` ${error.reason} `,
        target ? h("button.btn.btn-small", { type: "button", onclick: () => {
          if (state.tab !== "visual") switchTab("visual");
          const control = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea");
          (control || target).focus?.();
          target.scrollIntoView({ block: "center" });
        } }, "Show") : null));
    });
    mount(errorsBox, h("strong", `${errors.length} problem${errors.length > 1 ? "s" : ""} to fix before saving`), h("ul", items));
  }

  function applyJson() {
    try {
      const parsed = JSON.parse(jsonArea.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("a process definition is a JSON object");
      parsed.triggers = Array.isArray(parsed.triggers) ? parsed.triggers : [];
      parsed.actions = Array.isArray(parsed.actions) ? parsed.actions : [];
      definition = parsed;
      jsonError.hidden = true;
      changed(true);
      return true;
    } catch (error) {
      jsonError.textContent = `Not valid JSON: ${error.message}`;
      jsonError.hidden = false;
      return false;
    }
  }

  function switchTab(tab) {
    if (tab === state.tab) return;
    if (tab === "visual" && editable && !applyJson()) return;
    if (tab === "json") jsonArea.value = JSON.stringify(definition, null, 2);
    state.tab = tab;
    visual.hidden = tab !== "visual";
    jsonPane.hidden = tab !== "json";
    for (const b of tabs.querySelectorAll("button")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  }

  async function save() {
    if (state.tab === "json" && !applyJson()) return;
    state.live = true;
    validateLive.cancel();
    saveButton.disabled = true;
    try {
      const body = snapshot();
      if (id) {
        await put(`/api/processes/${id}`, body);
      } else {
        await post("/api/processes", body);
      }
      state.dirty = false;
      toast(`“${definition.name}” saved`);
      location.hash = "#/processes";
    } catch (error) {
      if (error.errors?.length) {
        if (state.tab !== "visual") switchTab("visual");
        showErrors(error.errors);
        toast("Not saved: fix the marked fields", "error");
      } else {
        toast(`Not saved: ${error.message}`, "error");
      }
    } finally {
      saveButton.disabled = false;
    }
  }

  const tabs = h("div.tabs", { role: "tablist" },
    [["visual", "Visual builder"], ["json", "JSON"]].map(([key, label]) => h("button", {
      type: "button", role: "tab", "data-tab": key, id: `tab-${key}`, "aria-selected": String(key === "visual"),
      onclick: () => switchTab(key),
    }, label)));
  const saveButton = h("button.btn.btn-primary", { type: "button", id: "save-process", onclick: save }, "Save process");
  const onBeforeUnload = (ev) => { if (state.dirty) ev.preventDefault(); };
  window.addEventListener("beforeunload", onBeforeUnload);

  paintAll();
  mount(root,
    h("div.page-head", h("h1", title), editable ? null : h("span.badge.s-idle", "read-only"), h("span.grow"),
      h("a.btn", { href: "#/processes" }, editable ? "Cancel" : "Back")),
    tabs, visual, jsonPane,
    editable ? h("div.sticky-actions", saveButton,
      h("button.btn", { type: "button", onclick: () => document.getElementById("tryrun")?.scrollIntoView({ block: "start" }) }, "Test this process…")) : null);
  // suggest known stations in the stations field
  getAll("/api/stations", "stations").then((stations) => {
    const input = root.querySelector('[data-path="stations"] input');
    if (!input || !stations.length) return;
    const list = h("datalist", { id: "station-ids" }, ["*", "central", ...stations.map((s) => s.station_id || s.id)].map((v) => h("option", { value: v })));
    root.append(list);
    input.setAttribute("list", "station-ids");
  }).catch(() => {});

  return () => {
    validateLive.cancel();
    window.removeEventListener("beforeunload", onBeforeUnload);
  };
}

function fromTemplate(template, schema) {
  const data = template.template_data?.definition || template.template_data || {};
  const def = definitionFrom({ ...data, triggers: data.triggers || [], actions: data.actions || [] }, schema);
  delete def.uid;
  delete def.version;
  def.name ||= template.name;
  def.description ??= template.description || "";
  def.template_id = template.id;
  return def;
}
