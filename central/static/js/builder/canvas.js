// The visual workflow: a palette of trigger and action types, dragged (HTML5 drag and drop) or
// added with a button into two ordered lists; items are reordered by dragging their grip or with
// the move up/down buttons (keyboard).
import { h, mount } from "../lib/dom.js";
import { conditionsEditor } from "./conditions.js";
import { schemaForm } from "./schema_form.js";

let dragging = null; // {kind: "trigger"|"action", type?: string, from?: number}
const DND_TYPE = "application/x-firefly-item";

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function conditionCount(node) {
  if (!node) return 0;
  if (Array.isArray(node)) return node.reduce((n, c) => n + conditionCount(c), 0);
  if (node.all || node.any) return (node.all || node.any).reduce((n, c) => n + conditionCount(c), 0);
  if (node.not) return conditionCount(node.not);
  return 1;
}

/**
 * opts: {definition, schemas: {trigger, action} (config schema per type), itemSchemas,
 *        catalog: {trigger: Map, action: Map}, ops, disabled, onChange(structural)}
 */
export function createCanvas(opts) {
  const { definition, disabled } = opts;
  const palette = h("div.palette.card", { "aria-label": "Building blocks" });
  const board = h("div.board");

  function add(kind, type, index) {
    const list = definition[`${kind}s`];
    const info = opts.catalog[kind].get(type) || {};
    const item = { [`${kind}_type`]: type, [`${kind}_config`]: clone(info.example) || {} };
    list.splice(index ?? list.length, 0, item);
    renumber();
    opts.onChange(true);
    requestAnimationFrame(() => {
      const el = board.querySelector(`[data-path="${kind}s[${index ?? list.length - 1}]"] input, [data-path="${kind}s[${index ?? list.length - 1}]"] select`);
      if (el) el.focus();
    });
  }

  function move(kind, from, to) {
    const list = definition[`${kind}s`];
    if (to < 0 || to > list.length || from === to) return;
    const [item] = list.splice(from, 1);
    list.splice(to > from ? to - 1 : to, 0, item);
    renumber();
    opts.onChange(true);
  }

  function remove(kind, index) {
    definition[`${kind}s`].splice(index, 1);
    renumber();
    opts.onChange(true);
  }

  function renumber() {
    definition.actions.forEach((a, i) => { a.action_order = i + 1; });
  }

  function paletteItem(kind, type, info) {
    return h(`button.palette-item${info.needs_radio ? ".radio" : ""}`, {
      type: "button", draggable: "true", "data-kind": kind, "data-type": type,
      title: `Drag into the ${kind}s, or press to add at the end`,
      ondragstart: (ev) => {
        dragging = { kind, type };
        ev.dataTransfer.setData(DND_TYPE, JSON.stringify(dragging));
        ev.dataTransfer.setData("text/plain", type);
        ev.dataTransfer.effectAllowed = "copy";
      },
      ondragend: () => { dragging = null; },
      onclick: () => add(kind, type),
    }, h("strong", type.replace(/_/g, " ")), h("span", info.description || ""));
  }

  function paintPalette() {
    mount(palette,
      h("h2", "Building blocks"),
      h("p.small.muted", "Drag a block into the workflow, or select it to add it at the end."),
      h("h3", "Triggers"),
      [...opts.catalog.trigger].map(([type, info]) => paletteItem("trigger", type, info)),
      h("h3", "Actions"),
      [...opts.catalog.action].map(([type, info]) => paletteItem("action", type, info)));
  }

  function indexAt(zone, y) {
    const items = [...zone.querySelectorAll(":scope > .item")];
    for (let i = 0; i < items.length; i += 1) {
      const r = items[i].getBoundingClientRect();
      if (y < r.top + r.height / 2) return i;
    }
    return items.length;
  }

  function wireZone(zone, kind) {
    const marker = h("div.drop-marker", { "aria-hidden": "true" });
    const clearMarks = () => { zone.classList.remove("over"); marker.remove(); };
    zone.addEventListener("dragover", (ev) => {
      if (!dragging || dragging.kind !== kind || disabled) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = dragging.from === undefined ? "copy" : "move";
      zone.classList.add("over");
      const end = ev.target.closest?.(".drop-end");
      const index = end ? definition[`${kind}s`].length : indexAt(zone, ev.clientY);
      const items = zone.querySelectorAll(":scope > .item");
      zone.insertBefore(marker, items[index] || zone.querySelector(":scope > .drop-end"));
    });
    zone.addEventListener("dragleave", (ev) => {
      if (!zone.contains(ev.relatedTarget)) clearMarks();
    });
    zone.addEventListener("drop", (ev) => {
      let data = dragging;
      try { data = JSON.parse(ev.dataTransfer.getData(DND_TYPE)) || data; } catch { /* keep dragging */ }
      clearMarks();
      dragging = null;
      if (!data || data.kind !== kind || disabled) return;
      ev.preventDefault();
      const end = ev.target.closest?.(".drop-end");
      const index = end ? definition[`${kind}s`].length : indexAt(zone, ev.clientY);
      if (data.from === undefined) add(kind, data.type, index);
      else move(kind, data.from, index);
    });
  }

  function itemCard(kind, item, index, count) {
    const type = item[`${kind}_type`];
    const info = opts.catalog[kind].get(type) || {};
    const path = `${kind}s[${index}]`;
    const configKey = `${kind}_config`;
    if (!item[configKey] || typeof item[configKey] !== "object") item[configKey] = {};
    const configSchema = opts.schemas[kind][type] || { type: "object" };
    const label = kind === "action" ? `action ${index + 1}` : `trigger ${index + 1}`;
    const extraKeys = kind === "action" ? ["timeout_seconds", "retry_count"] : ["priority", "is_active"];
    const extraSchema = { type: "object", properties: Object.fromEntries(extraKeys.map((k) => [k, opts.itemSchemas[kind].properties[k]])) };
    const nConditions = conditionCount(item.conditions);
    const card = h(`div.item.${kind}`, { "data-path": path, "data-index": index, "data-type": type },
      h("div.item-head",
        disabled ? null : h("span.grip", {
          draggable: "true", title: "Drag to reorder", "aria-hidden": "true",
          ondragstart: (ev) => {
            dragging = { kind, from: index };
            ev.dataTransfer.setData(DND_TYPE, JSON.stringify(dragging));
            ev.dataTransfer.effectAllowed = "move";
            ev.dataTransfer.setDragImage(card, 20, 20);
          },
          ondragend: () => { dragging = null; },
        }, "⠿"),
        kind === "action" ? h("span.order", `${index + 1}.`) : null,
        h("span.title", type.replace(/_/g, " ")),
        info.needs_radio ? h("span.badge.s-warn", { title: "Needs the station's radio: does not run at central" }, "radio") : null,
        disabled ? null : [
          h("button.btn.btn-icon.btn-small", { type: "button", "aria-label": `Move ${label} up`, disabled: index === 0,
            onclick: () => move(kind, index, index - 1) }, "↑"),
          h("button.btn.btn-icon.btn-small", { type: "button", "aria-label": `Move ${label} down`, disabled: index === count - 1,
            onclick: () => move(kind, index, index + 2) }, "↓"),
          h("button.btn.btn-icon.btn-small.btn-danger", { type: "button", "aria-label": `Remove ${label}`,
            onclick: () => remove(kind, index) }, "✕"),
        ]),
      h("div.item-body",
        info.description ? h("p.small.muted", info.description) : null,
        schemaForm(configSchema, item[configKey], `${path}.${configKey}`, () => opts.onChange(false), { disabled }),
        h("details", { open: nConditions > 0 || null, "data-path": `${path}.conditions`, "data-key": `${path}:conditions` },
          h("summary", `Conditions${nConditions ? ` (${nConditions})` : ""}`),
          conditionsEditor(item, `${path}.conditions`, opts.ops, () => opts.onChange(false), { disabled })),
        h("details", { "data-path": path, "data-key": `${path}:extra` },
          h("summary", kind === "action" ? "Timeout and retries" : "Priority and state"),
          schemaForm(extraSchema, item, path, () => opts.onChange(false), { disabled }))));
    return card;
  }

  function zone(kind, title, hint) {
    const list = definition[`${kind}s`];
    const el = h("div.dropzone", { "data-kind": kind, "data-path": `${kind}s`, "aria-label": title },
      list.map((item, i) => [
        itemCard(kind, item, i, list.length),
        kind === "action" && i < list.length - 1 ? h("div.flow-arrow", { "aria-hidden": "true" }, "↓") : null,
      ]),
      disabled ? null : h("div.drop-end.placeholder", list.length ? `Drop ${kind === "action" ? "an action" : "a trigger"} here to add it at the end` : hint));
    wireZone(el, kind);
    return h("section.card", { "aria-label": title }, h("h2", title), el);
  }

  function paint() {
    const open = new Set([...board.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    mount(board,
      zone("trigger", "When… (any of these triggers)", "Drag a trigger here, or select one in the building blocks: what starts the process"),
      zone("action", "Then… (these actions, in order)", "Drag actions here, or select them in the building blocks: what the process does"));
    for (const d of board.querySelectorAll("details")) if (open.has(d.dataset.key)) d.open = true;
  }

  paintPalette();
  paint();
  return { palette, board, repaint: paint };
}
