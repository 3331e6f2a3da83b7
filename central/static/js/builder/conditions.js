// The condition builder: nested AND/OR groups (each may be negated) of leaf conditions.
// Works on a small model and writes the definition's JSON shape back on every edit:
//   {"all": [...]} / {"any": [...]} / {"not": c} / [...] / a bare leaf / null.
import { h } from "../lib/dom.js";
import { schemaForm } from "./schema_form.js";

const FIELD_SUGGESTIONS = [
  "event.text", "event.from_id", "event.from_name", "event.channel", "event.zone", "event.node_id",
  "event.severity", "event.title", "event.battery_level", "event.type", "event.source", "event.triggered_by",
  "station.id", "process.name", "steps.1.status", "steps.1.result",
];

const isGroup = (node) => node && typeof node === "object" && !Array.isArray(node) && ("all" in node || "any" in node || "not" in node);

/** Definition JSON -> model. */
export function toModel(node) {
  if (node === null || node === undefined) return { join: "all", negate: false, children: [] };
  if (Array.isArray(node)) return { join: "all", negate: false, list: true, children: node.map(childModel) };
  if ("all" in node || "any" in node) {
    const join = "all" in node ? "all" : "any";
    return { join, negate: false, children: (node[join] || []).map(childModel) };
  }
  if ("not" in node) {
    const inner = node.not;
    if (isGroup(inner) || Array.isArray(inner)) {
      const group = toModel(inner);
      group.negate = !group.negate;
      return group;
    }
    return { join: "all", negate: true, children: [childModel(inner)] };
  }
  return { join: "all", negate: false, bare: true, children: [childModel(node)] };
}

function childModel(node) {
  return isGroup(node) || Array.isArray(node) ? { group: toModel(node) } : { leaf: node };
}

/** Model -> definition JSON (null when the top group is empty). */
export function fromModel(group, top = true) {
  const children = group.children.map((c) => (c.group ? fromModel(c.group, false) : c.leaf));
  if (top && !children.length && !group.negate) return null;
  let node;
  if (group.bare && children.length === 1 && group.join === "all" && !group.negate && !isGroup(children[0])) return children[0];
  if (group.list && group.join === "all" && !group.negate) node = children;
  else node = { [group.join]: children };
  return group.negate ? { not: node } : node;
}

/** The path of the children list of a group, as the API names it. */
function childrenPath(path, group) {
  const base = group.negate ? `${path}.not` : path;
  return group.list && group.join === "all" && !group.negate ? base : `${base}.${group.join}`;
}

function parseValue(kind, text) {
  if (kind === "number") return text === "" ? undefined : Number(text);
  if (kind === "boolean") return text === "true";
  if (kind === "list") return text.split(",").map((x) => x.trim()).filter(Boolean);
  return text;
}

function valueKind(value) {
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (Array.isArray(value)) return "list";
  return "text";
}

function leafEditor(leaf, path, ops, changed, remove, disabled) {
  const node = leaf.leaf;
  const opNames = Object.keys(ops);
  const op = ops[node.op];
  const opSelect = h("select", { "aria-label": "Operator", disabled, "data-path": `${path}.op`,
    onchange: () => {
      const next = ops[opSelect.value];
      const keep = next?.fieldBased ? { field: node.field || "event.text", value: node.value ?? "" } : {};
      leaf.leaf = { op: opSelect.value, ...keep };
      changed(true);
    } },
  opNames.map((name) => h("option", { value: name, selected: name === node.op, title: ops[name].description }, name.replace(/_/g, " "))));
  const parts = [];
  if (!op || op.fieldBased) {
    const listId = "cond-fields";
    const fieldInput = h("input", { type: "text", value: node.field || "", list: listId, "aria-label": "Field", placeholder: "event.text",
      disabled, "data-path": `${path}.field`, oninput: () => { node.field = fieldInput.value; changed(false); } });
    parts.push(h("span.invalid-wrap", { "data-path": `${path}.field` }, fieldInput), opSelect);
    if (node.op !== "exists") {
      let kind = valueKind(node.value);
      const valueInput = h("input", { type: "text", "aria-label": "Value", disabled, "data-path": `${path}.value`,
        value: Array.isArray(node.value) ? node.value.join(", ") : node.value ?? "",
        oninput: () => { node.value = parseValue(kind, valueInput.value); changed(false); } });
      const kindSelect = h("select", { "aria-label": "Value type", disabled, onchange: () => {
        kind = kindSelect.value;
        node.value = parseValue(kind, valueInput.value);
        changed(false);
      } }, [["text", "text"], ["number", "number"], ["boolean", "yes/no"], ["list", "list"]].map(([v, l]) =>
        h("option", { value: v, selected: v === kind }, l)));
      parts.push(h("span.invalid-wrap", { "data-path": `${path}.value` }, valueInput), kindSelect);
    } else {
      const box = h("input", { type: "checkbox", checked: node.value !== false, disabled, onchange: () => { node.value = box.checked; changed(false); } });
      parts.push(h("label.small", box, " present"));
    }
    if (typeof node.value === "string" || ["contains", "starts_with", "matches", "eq", "ne", "in"].includes(node.op)) {
      const cs = h("input", { type: "checkbox", disabled, checked: node.case_sensitive ?? node.op !== "matches",
        onchange: () => { node.case_sensitive = cs.checked; changed(false); } });
      parts.push(h("label.small", cs, " match case"));
    }
  } else {
    parts.push(opSelect, schemaForm(op.schema, node, path, () => changed(false), { disabled, skip: ["op"] }));
  }
  return h("div.cond-leaf", { "data-path": path },
    parts,
    disabled ? null : h("button.btn.btn-icon.btn-small", { type: "button", "aria-label": "Remove this condition", onclick: remove }, "✕"));
}

function groupEditor(group, path, ops, changed, removeSelf, disabled) {
  const listPath = childrenPath(path, group);
  const joinSelect = h("select", { "aria-label": "Combine with", disabled, onchange: () => { group.join = joinSelect.value; changed(true); } },
    h("option", { value: "all", selected: group.join === "all" }, "ALL of these (AND)"),
    h("option", { value: "any", selected: group.join === "any" }, "ANY of these (OR)"));
  const negate = h("input", { type: "checkbox", checked: group.negate, disabled, onchange: () => { group.negate = negate.checked; changed(true); } });
  const bareLeaf = group.bare && group.children.length === 1 && group.join === "all" && !group.negate && !group.children[0].group;
  const items = group.children.map((child, i) => {
    const childPath = bareLeaf ? path : `${listPath}[${i}]`;
    const remove = () => { group.children.splice(i, 1); changed(true); };
    const editor = child.group
      ? groupEditor(child.group, childPath, ops, changed, remove, disabled)
      : leafEditor(child, childPath, ops, changed, remove, disabled);
    return [i > 0 ? h("div.cond-join", group.join === "all" ? "and" : "or") : null, editor];
  });
  const firstOp = ops.contains ? "contains" : Object.keys(ops)[0];
  return h("div.cond-group", { "data-path": path },
    h("div.row",
      joinSelect,
      h("label.small", negate, " NOT (none of this may hold)"),
      h("span.grow"),
      removeSelf && !disabled ? h("button.btn.btn-small", { type: "button", onclick: removeSelf, "aria-label": "Remove this group" }, "Remove group") : null),
    items.length ? items : h("p.muted.small", "No conditions: always true."),
    disabled ? null : h("div.row",
      h("button.btn.btn-small", { type: "button", "data-add": "condition", onclick: () => {
        group.children.push({ leaf: ops[firstOp]?.fieldBased ? { field: "event.text", op: firstOp, value: "" } : { op: firstOp } });
        changed(true);
      } }, "+ Condition"),
      h("button.btn.btn-small", { type: "button", "data-add": "group", onclick: () => {
        group.children.push({ group: { join: group.join === "all" ? "any" : "all", negate: false, children: [] } });
        changed(true);
      } }, "+ Group")));
}

/**
 * The editor for item.conditions (`path` is its data path). onChange(structural) runs after
 * every edit; structural edits re-render the editor.
 */
export function conditionsEditor(item, path, ops, onChange, { disabled = false } = {}) {
  const box = h("div.conditions", { "data-path": path });
  const model = toModel(item.conditions);
  const datalist = document.getElementById("cond-fields") || document.body.appendChild(
    h("datalist", { id: "cond-fields" }, FIELD_SUGGESTIONS.map((f) => h("option", { value: f }))));
  void datalist;
  const paint = () => {
    box.replaceChildren(groupEditor(model, path, ops, changed, null, disabled));
  };
  function changed(structural) {
    const value = fromModel(model);
    if (value === null) delete item.conditions;
    else item.conditions = value;
    if (structural) paint();
    onChange();
  }
  paint();
  return box;
}
