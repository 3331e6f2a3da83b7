// A form generated from a JSON Schema object: one field per property, bound to a plain object.
// Each field carries data-path (e.g. "actions[1].action_config.title") so that the API's
// validation errors can be shown at the field.
import { h } from "../lib/dom.js";
import { humanise, joinPath } from "./schema.js";

let seq = 0;
const nextId = () => `sf-${++seq}`;

function alternatives(schema) {
  const groups = schema.oneOf || schema.anyOf;
  if (!groups) return null;
  const names = groups.map((g) => (g.required || []).join(" + ")).filter(Boolean);
  return names.length ? `Give ${schema.oneOf ? "exactly one" : "at least one"} of: ${names.join(", ")}` : null;
}

function setValue(target, key, value, onChange) {
  if (value === undefined || value === "") delete target[key];
  else target[key] = value;
  onChange();
}

function textControl(prop, current, id) {
  const long = (prop.maxLength || 0) > 300;
  const attrs = {
    id, value: current ?? "", placeholder: prop.default !== undefined ? String(prop.default) : (prop.format === "date-time" ? "2026-01-31T19:00:00+01:00" : null),
    maxlength: prop.maxLength || null,
  };
  return long ? h("textarea", { ...attrs, rows: 3 }) : h("input", { ...attrs, type: "text" });
}

/** "a text, or a list of texts" (oneOf/anyOf string | array of strings). */
function textOrList(prop) {
  const alts = prop.oneOf || prop.anyOf;
  return Boolean(alts) && alts.some((a) => a.type === "string") && alts.some((a) => a.type === "array");
}

/** The control for one property; calls set(value) on change (undefined removes the key). */
function controlFor(prop, current, id, set, disabled) {
  if (textOrList(prop)) {
    const input = h("input", { id, type: "text", disabled, placeholder: "one text, or several separated by commas",
      value: Array.isArray(current) ? current.join(", ") : current ?? "",
      oninput: () => {
        const items = input.value.split(",").map((x) => x.trim()).filter(Boolean);
        set(items.length > 1 ? items : items[0]);
      } });
    return input;
  }
  const types = Array.isArray(prop.type) ? prop.type.filter((t) => t !== "null") : [prop.type];
  if (types.length > 1 && types.includes("string")) {
    // a number or a template ("channel": 0 or "{{ event.channel }}")
    const input = h("input", { id, type: "text", disabled, value: current ?? "",
      placeholder: prop.default !== undefined ? String(prop.default) : null,
      oninput: () => {
        const text = input.value.trim();
        const numeric = /^-?\d+(\.\d+)?$/.test(text) && (types.includes("integer") || types.includes("number"));
        set(text === "" ? undefined : numeric ? Number(text) : input.value);
      } });
    return input;
  }
  const type = types[0];
  if (prop.enum) {
    const select = h("select", { id, disabled, onchange: () => set(select.value === "" ? undefined : JSON.parse(select.value)) },
      h("option", { value: "" }, prop.default !== undefined ? `(default: ${prop.default})` : "—"),
      prop.enum.map((v) => h("option", { value: JSON.stringify(v), selected: v === current }, String(v))));
    return select;
  }
  if (type === "boolean") {
    const box = h("input", { id, type: "checkbox", checked: current ?? prop.default ?? false, disabled,
      onchange: () => set(box.checked) });
    return box;
  }
  if (type === "integer" || type === "number") {
    const input = h("input", { id, type: "number", value: current ?? "", disabled, min: prop.minimum ?? null, max: prop.maximum ?? null,
      step: type === "integer" ? 1 : "any", placeholder: prop.default !== undefined ? String(prop.default) : null,
      oninput: () => {
        if (input.value === "") return set(undefined);
        const n = Number(input.value);
        set(Number.isNaN(n) ? input.value : n);
      } });
    return input;
  }
  if (type === "array" && prop.items?.enum) {
    const chosen = new Set(current || []);
    return h("div.row", { id, role: "group" }, prop.items.enum.map((v) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(v), disabled, onchange: () => {
        if (box.checked) chosen.add(v); else chosen.delete(v);
        set(chosen.size ? prop.items.enum.filter((x) => chosen.has(x)) : undefined);
      } });
      return h("label.small", box, ` ${v}`);
    }));
  }
  if (type === "array" && (!prop.items || prop.items.type === "string")) {
    const input = h("input", { id, type: "text", value: (current || []).join(", "), disabled, placeholder: "comma-separated",
      oninput: () => set(input.value.trim() ? input.value.split(",").map((x) => x.trim()).filter(Boolean) : undefined) });
    return input;
  }
  if (type === "string" || (!type && !prop.properties)) {
    const input = textControl(prop, typeof current === "string" || current === undefined ? current : JSON.stringify(current), id);
    input.disabled = disabled;
    input.addEventListener("input", () => set(input.value));
    return input;
  }
  // objects, mixed types: edited as JSON
  const area = h("textarea.code", { id, rows: 4, disabled, value: current === undefined ? "" : JSON.stringify(current, null, 2) });
  area.addEventListener("change", () => {
    if (!area.value.trim()) return set(undefined);
    try {
      set(JSON.parse(area.value));
      area.setCustomValidity("");
    } catch {
      area.setCustomValidity("not valid JSON");
      area.reportValidity();
    }
  });
  return area;
}

/**
 * A form for `schema` (an object schema) editing `target` in place.
 * `path` is the data path of `target` in the definition; onChange runs after every edit.
 */
export function schemaForm(schema, target, path, onChange, { disabled = false, skip = [] } = {}) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const box = h("div.schema-form", { "data-path": path });
  const alt = alternatives(schema);
  if (alt) box.append(h("p.hint.small.muted", alt));
  const keys = Object.keys(props).filter((k) => !skip.includes(k));
  if (!keys.length && schema.additionalProperties !== false) {
    const id = nextId();
    const area = controlFor({}, Object.keys(target).length ? target : undefined, id, (v) => {
      for (const k of Object.keys(target)) delete target[k];
      Object.assign(target, v || {});
      onChange();
    }, disabled);
    box.append(h("div.field", { "data-path": path }, h("label", { for: id }, "Configuration (JSON)"), area));
    return box;
  }
  const grid = h("div.form-row");
  for (const key of keys) {
    const prop = props[key];
    const id = nextId();
    const fieldPath = joinPath(path, key);
    const control = controlFor(prop, target[key], id, (v) => setValue(target, key, v, onChange), disabled);
    control.dataset.path = fieldPath;
    const hintBits = [prop.description, prop.default !== undefined && typeof prop.default !== "object" ? `default ${prop.default}` : null]
      .filter(Boolean).join(" · ");
    const label = h("label", { for: id }, humanise(key), required.has(key) ? h("span", { "aria-hidden": "true" }, " *") : null,
      required.has(key) ? h("span.sr-only", " (required)") : null);
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    const wrapper = type === "boolean"
      ? h("div.field.check", { "data-path": fieldPath }, control, h("div", label, hintBits ? h("div.hint", hintBits) : null))
      : h("div.field", { "data-path": fieldPath }, label, hintBits ? h("span.hint", hintBits) : null, control);
    const wide = (prop.maxLength || 0) > 300 || type === "object" || (!type && !prop.enum);
    if (wide) wrapper.style.gridColumn = "1 / -1";
    grid.append(wrapper);
  }
  box.append(grid);
  return box;
}
