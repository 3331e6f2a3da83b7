// A card listing one kind of record (zones, users, groups, bots) with add, edit and delete.
import { del, get, post, put } from "../lib/api.js";
import { dialog, formDialog, h, mount, toast } from "../lib/dom.js";

/** The records of a list answer: {<key>: [...]} or a bare array. */
export function itemsOf(result, key) {
  if (Array.isArray(result)) return result;
  return result?.[key] || result?.items || [];
}

/**
 * opts: {title, endpoint, key, columns: [[label, record => node]], editor(record|null) ->
 *        {body, value()}, editable, onLoad(records), idOf(record), emptyText}
 */
export function crudCard(opts) {
  const tbody = h("tbody");
  const status = h("span.muted.small");
  const idOf = opts.idOf || ((r) => r.id);
  let records = [];

  async function load() {
    records = itemsOf(await get(opts.endpoint, { limit: 500 }), opts.key);
    paint();
    if (opts.onLoad) opts.onLoad(records);
    return records;
  }

  function paint() {
    status.textContent = `${records.length}`;
    mount(tbody, records.length ? records.map((r) => h("tr", { "data-id": idOf(r), "data-name": r.name || "" },
      opts.columns.map(([, cell, cls]) => h(`td${cls ? `.${cls}` : ""}`, cell(r))),
      opts.editable ? h("td.actions",
        h("button.btn.btn-small", { type: "button", onclick: () => edit(r), "aria-label": `Edit ${r.name || idOf(r)}` }, "Edit"),
        h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => remove(r), "aria-label": `Delete ${r.name || idOf(r)}` }, "Delete")) : null))
      : h("tr", h("td.empty", { colspan: opts.columns.length + 1 }, opts.emptyText || "Nothing here yet.")));
  }

  async function edit(record) {
    const editor = opts.editor(record);
    const saved = await formDialog(record ? `Edit ${record.name || ""}` : `New ${opts.noun}`, editor.body, async () => {
      const value = editor.value();
      // the version edited: central answers 409 if someone changed it meanwhile
      if (record?.hlc) value.hlc = record.hlc;
      if (record) await put(`${opts.endpoint}/${idOf(record)}`, value);
      else await post(opts.endpoint, value);
    });
    if (saved) {
      toast(`${capital(opts.noun)} “${editor.value().name || ""}” saved`);
      await load();
    }
  }

  async function remove(record) {
    const ok = await dialog(`Delete ${record.name || opts.noun}?`, h("p", "Stations drop it at their next sync."), { submitLabel: "Delete", danger: true });
    if (!ok) return;
    try {
      await del(`${opts.endpoint}/${idOf(record)}`);
      toast(`${capital(opts.noun)} “${record.name || idOf(record)}” deleted`);
      await load();
    } catch (error) {
      toast(`Could not delete: ${error.message}`, "error");
    }
  }

  const el = h("section.card", { "aria-label": opts.title },
    h("div.row", h("h2", opts.title), status, h("span.grow"),
      opts.editable ? h("button.btn.btn-primary.btn-small", { type: "button", onclick: () => edit(null), "data-action": `new-${opts.key}` }, `+ New ${opts.noun}`) : null),
    h("div.table-wrap", h("table",
      h("thead", h("tr", opts.columns.map(([label, , cls]) => h(`th${cls ? `.${cls}` : ""}`, label)), opts.editable ? h("th", h("span.sr-only", "Actions")) : null)),
      tbody)));
  return { el, load, edit, records: () => records };
}

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** "a, b, c" <-> ["a", "b", "c"] */
export const splitList = (text) => text.split(",").map((x) => x.trim()).filter(Boolean);
