// ProcessTemplates: the template library by category with usage statistics; create a template
// from a process; instantiate one with customisations; import and export JSON files.
import { get, getAll, post } from "../lib/api.js";
import { dateTime } from "../lib/format.js";
import { dialog, downloadJson, field, h, mount, toast } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { barsChart } from "../monitor/charts.js";

const CATEGORIES = ["emergency", "maintenance", "communication", "monitoring"];
const EXPORT_FORMAT = 1;

function summary(data) {
  const triggers = (data?.triggers || []).map((t) => t.trigger_type).join(" or ");
  const actions = (data?.actions || []).map((a) => a.action_type).join(" → ");
  return `${triggers || "no trigger"} ⇒ ${actions || "no action"}`;
}

export function exportDocument(t) {
  return { firefly_template: EXPORT_FORMAT, name: t.name, description: t.description, category: t.category, template_data: t.template_data };
}

/** A file's JSON as an import body: our export format, or a bare process definition. */
export function importBody(doc, fallbackName) {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("the file does not hold a JSON object");
  if (doc.template_data) {
    return { name: doc.name || fallbackName, description: doc.description ?? null,
      category: CATEGORIES.includes(doc.category) ? doc.category : null, template_data: doc.template_data };
  }
  if (doc.triggers && doc.actions) return { name: doc.name || fallbackName, description: doc.description ?? null, category: null, template_data: doc };
  throw new Error("the file is neither an exported template nor a process definition");
}

export async function render(root) {
  const editable = can("processes:create");
  const state = { templates: [], category: "" };
  const grid = h("div.grid", { id: "template-grid" });
  const chips = h("div.chips", { role: "group", "aria-label": "Category" });
  const usage = h("div");
  const fileInput = h("input", { type: "file", accept: "application/json,.json", id: "template-import-file", hidden: true,
    onchange: () => importFile(fileInput.files[0]) });

  async function load() {
    const result = await get("/api/processes/templates");
    state.templates = result.templates || [];
    paint();
  }

  function paint() {
    const counts = new Map();
    for (const t of state.templates) counts.set(t.category || "", (counts.get(t.category || "") || 0) + 1);
    mount(chips, [["", `All (${state.templates.length})`], ...CATEGORIES.map((c) => [c, `${c} (${counts.get(c) || 0})`]),
      ["none", `uncategorised (${counts.get("") || 0})`]].map(([value, label]) =>
      h("button", { type: "button", "aria-pressed": String(state.category === value), onclick: () => { state.category = value; paint(); } }, label)));
    const shown = state.templates.filter((t) => !state.category || (state.category === "none" ? !t.category : t.category === state.category));
    const maxUse = Math.max(1, ...state.templates.map((t) => t.usage_count || 0));
    mount(grid, shown.length ? shown.map((t) => h("article.card.tpl", { "data-template-id": t.id, "data-name": t.name },
      h("h3", t.name),
      h("div.meta", t.category ? h("span.tag", t.category) : h("span.tag", "uncategorised"),
        h("span.small.muted", `used ${t.usage_count || 0} time${t.usage_count === 1 ? "" : "s"}`)),
      h("div.usage", { role: "img", "aria-label": `usage ${t.usage_count || 0} of at most ${maxUse}` },
        h("span", { style: { width: `${Math.round(100 * (t.usage_count || 0) / maxUse)}%` } })),
      h("p.desc", t.description || "No description."),
      h("p.small", h("code", summary(t.template_data))),
      h("p.small.muted", `Created ${dateTime(t.created_at)}`),
      h("div.row",
        editable ? h("button.btn.btn-primary.btn-small", { type: "button", "data-action": "use", onclick: () => instantiate(t) }, "Use…") : null,
        editable ? h("a.btn.btn-small", { href: `#/builder/new?template=${t.id}`, "data-action": "customise" }, "Customise in builder") : null,
        h("button.btn.btn-small", { type: "button", "data-action": "export", onclick: () => exportTemplate(t) }, "Export")))) :
      h("p.empty", state.templates.length ? "No template in this category." : "No templates yet: create one from a process."));
    const top = state.templates.slice().sort((a, b) => (b.usage_count || 0) - (a.usage_count || 0)).slice(0, 8);
    mount(usage, barsChart(top.map((t) => ({ label: t.name, value: t.usage_count || 0, text: String(t.usage_count || 0) })),
      { title: "Template usage", max: maxUse }));
  }

  async function instantiate(t) {
    const name = h("input", { name: "name", required: true, value: `${t.name} copy`, maxlength: 200 });
    const stations = h("input", { name: "stations", value: (t.template_data?.stations || ["*"]).join(", "), placeholder: "* or station ids" });
    const description = h("textarea", { name: "description", rows: 2, value: t.template_data?.description || t.description || "" });
    const active = h("input", { type: "checkbox", name: "is_active", checked: true });
    const form = await dialog(`Use template “${t.name}”`, h("div",
      h("p.small.muted", "The new process gets the template's triggers and actions; change them later in the builder."),
      field("Name of the new process", name), field("Stations", stations, { hint: "comma-separated; * for all, central to run at central" }),
      field("Description", description), field("Active", active, { check: true })), { submitLabel: "Create process" });
    if (!form) return;
    const customizations = {
      name: name.value.trim(), description: description.value.trim() || null, is_active: active.checked,
      stations: stations.value.split(",").map((x) => x.trim()).filter(Boolean),
    };
    try {
      const result = await post(`/api/processes/templates/${t.id}/instantiate`, { customizations });
      toast(`Process “${customizations.name}” created from the template`);
      location.hash = `#/builder/${result.process_id}`;
    } catch (error) {
      const details = error.errors?.length ? `: ${error.errors.map((e) => `${e.path} ${e.reason}`).join("; ")}` : "";
      toast(`Could not create the process: ${error.message}${details}`, "error");
    }
  }

  function exportTemplate(t) {
    const safe = t.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "template";
    downloadJson(`${safe}.template.json`, exportDocument(t));
  }

  async function importFile(file) {
    fileInput.value = "";
    if (!file) return;
    try {
      const body = importBody(JSON.parse(await file.text()), file.name.replace(/\.json$/i, "").replace(/\.template$/i, ""));
      await post("/api/processes/templates/import", body);
      toast(`Template “${body.name}” imported`);
      await load();
    } catch (error) {
      const details = error.errors?.length ? ` (${error.errors.slice(0, 3).map((e) => `${e.path}: ${e.reason}`).join("; ")})` : "";
      toast(`Import failed: ${error.message}${details}`, "error");
    }
  }

  async function fromProcess() {
    const processes = await getAll("/api/processes", "processes");
    const select = h("select", { name: "process_id", required: true },
      processes.slice().sort((a, b) => a.name.localeCompare(b.name)).map((p) => h("option", { value: p.id }, p.name)));
    const name = h("input", { name: "name", required: true, maxlength: 200 });
    const description = h("textarea", { name: "description", rows: 2 });
    const category = h("select", { name: "category" }, h("option", { value: "" }, "— none —"), CATEGORIES.map((c) => h("option", { value: c }, c)));
    select.addEventListener("change", () => { if (!name.dataset.touched) name.value = select.selectedOptions[0]?.textContent || ""; });
    name.addEventListener("input", () => { name.dataset.touched = "1"; });
    name.value = select.selectedOptions[0]?.textContent || "";
    const form = await dialog("New template from a process", h("div",
      field("Process", select), field("Template name", name), field("Description", description), field("Category", category)),
    { submitLabel: "Create template" });
    if (!form) return;
    try {
      await post("/api/processes/templates", { process_id: Number(select.value), name: name.value.trim(),
        description: description.value.trim() || null, category: category.value || null });
      toast(`Template “${name.value.trim()}” created`);
      await load();
    } catch (error) {
      toast(`Could not create the template: ${error.message}`, "error");
    }
  }

  mount(root,
    h("div.page-head", h("h1", "Templates"), h("span.grow"),
      editable ? h("button.btn", { type: "button", id: "template-import", onclick: () => fileInput.click() }, "Import JSON…") : null,
      editable ? h("button.btn.btn-primary", { type: "button", id: "template-from-process", onclick: fromProcess }, "+ From a process…") : null,
      fileInput),
    h("div.split",
      h("section", { "aria-label": "Template library" }, chips, grid),
      h("section.card", h("h2", "Most used"), usage)));
  await load();
}
