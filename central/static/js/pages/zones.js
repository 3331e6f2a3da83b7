// Zones: drawn and edited on the offline map (circle or polygon), with a form as the keyboard
// alternative; node positions shown for orientation.
import { del, get, post, put } from "../lib/api.js";
import { field, h, mount, toast } from "../lib/dom.js";
import { badge } from "../lib/format.js";
import { can } from "../lib/session.js";
import { itemsOf } from "./crud.js";
import { createMap } from "./map.js";

const keyOf = (z) => String(z.id ?? z.uid ?? z.name);

/** Node positions central knows: those carried by alerts (newest first), one per node. */
export function lastPositions(alerts) {
  const seen = new Map();
  for (const a of alerts) {
    if (a.lat == null || a.lon == null) continue;
    const key = a.node_id || `alert ${a.id}`;
    if (!seen.has(key)) seen.set(key, { node_id: key, name: key, lat: Number(a.lat), lon: Number(a.lon), last_heard: a.created_at });
  }
  return [...seen.values()];
}

/** The API body: a circle's centre and radius, or a polygon's vertices (central computes its
 * centre); with the hlc of the version edited, so a concurrent change is refused (409). */
export function payload(z) {
  const base = { name: (z.name || "").trim(), shape: z.shape, margin_m: Number(z.margin_m ?? 25), is_active: z.is_active !== false };
  if (z.hlc) base.hlc = z.hlc;
  if (z.shape === "polygon") return { ...base, polygon: (z.polygon || []).map(([lat, lon]) => [Number(lat), Number(lon)]) };
  return { ...base, center_lat: Number(z.center_lat), center_lon: Number(z.center_lon), radius_m: Number(z.radius_m) };
}

export async function render(root) {
  const editable = can("modules:edit");
  const state = { zones: [], nodes: [], selected: null, draft: null };
  const list = h("ul.zone-list.stack", { id: "zone-list" });
  const editor = h("section.card", { id: "zone-editor", "aria-label": "Zone" });
  const map = createMap({
    onSelect: (key) => select(key),
    onGeometry: () => paintEditor(),
    onDrawn: (draft) => { state.draft = draft; state.selected = null; map.setData({ draft, selected: null }); paintEditor(); },
  });

  const current = () => state.draft || state.zones.find((z) => keyOf(z) === state.selected) || null;

  function select(key) {
    state.selected = key;
    state.draft = null;
    map.setData({ selected: key, draft: null });
    paintList();
    paintEditor();
  }

  function paintList() {
    mount(list, state.zones.length ? state.zones.map((z) => h("li",
      h("button.btn.btn-small", { type: "button", "aria-pressed": String(keyOf(z) === state.selected), "data-zone-key": keyOf(z),
        onclick: () => select(keyOf(z)) }, z.name),
      " ", h("span.small.muted", z.shape === "polygon" ? `polygon, ${(z.polygon || []).length} points` : `circle, ${Math.round(z.radius_m || 0)} m`),
      z.is_active === false ? badge("inactive", "Inactive") : null))
      : h("li.muted", "No zones yet. Draw one on the map."));
  }

  function numberInput(z, key, label, opts = {}) {
    const input = h("input", { type: "number", step: opts.step || "any", value: z[key] ?? "", required: true, disabled: !editable,
      oninput: () => { z[key] = input.value === "" ? null : Number(input.value); map.setData({}); } });
    return field(label, input, { hint: opts.hint });
  }

  function paintEditor() {
    const z = current();
    if (!z) {
      mount(editor, h("h2", "Zone"), h("p.muted", editable ? "Select a zone on the map or in the list, or draw a new one." : "Select a zone to see it."));
      return;
    }
    const name = h("input", { value: z.name || "", required: true, maxlength: 200, disabled: !editable, id: "zone-name",
      oninput: () => { z.name = name.value; map.setData({}); } });
    const active = h("input", { type: "checkbox", checked: z.is_active !== false, disabled: !editable, onchange: () => { z.is_active = active.checked; } });
    let geometry;
    if (z.shape === "polygon") {
      const area = h("textarea.code", { rows: 6, disabled: !editable, value: (z.polygon || []).map(([a, b]) => `${a.toFixed(6)}, ${b.toFixed(6)}`).join("\n"),
        onchange: () => {
          const pts = area.value.split("\n").map((line) => line.split(",").map(Number)).filter((p) => p.length === 2 && p.every(Number.isFinite));
          if (pts.length >= 3) { z.polygon = pts; map.setData({}); area.setCustomValidity(""); } else { area.setCustomValidity("at least three lines of: latitude, longitude"); area.reportValidity(); }
        } });
      geometry = field("Vertices", area, { hint: "one per line: latitude, longitude" });
    } else {
      geometry = h("div.form-row", numberInput(z, "center_lat", "Centre latitude"), numberInput(z, "center_lon", "Centre longitude"),
        numberInput(z, "radius_m", "Radius (m)", { step: 1 }));
    }
    const form = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      try {
        const saved = z.id ? await put(`/api/zones/${z.id}`, payload(z)) : await post("/api/zones", payload(z));
        toast(`Zone “${z.name}” saved`);
        state.draft = null;
        if (saved?.id) state.selected = String(saved.id);
        await load(false);
      } catch (error) {
        const details = error.errors?.length ? `: ${error.errors.map((e) => `${e.path} ${e.reason}`).join("; ")}` : "";
        toast(`Not saved: ${error.message}${details}`, "error");
      }
    } },
    h("h2", z.id ? `Zone: ${z.name}` : "New zone"),
    field("Name", name),
    h("p.small", badge("info", z.shape)),
    geometry,
    numberInput(z, "margin_m", "Margin (m)", { step: 1, hint: "hysteresis: GPS jitter at the edge does not count" }),
    field("Active", active, { check: true }),
    editable ? h("div.row",
      h("button.btn.btn-primary", { type: "submit", id: "zone-save" }, "Save zone"),
      h("button.btn", { type: "button", onclick: () => { state.draft = null; load(false); } }, "Cancel"),
      z.id ? h("button.btn.btn-danger", { type: "button", onclick: () => remove(z) }, "Delete") : null) : null);
    mount(editor, form);
  }

  async function remove(z) {
    try {
      await del(`/api/zones/${z.id}`);
      toast(`Zone “${z.name}” deleted`);
      state.selected = null;
      await load(false);
    } catch (error) {
      toast(`Could not delete: ${error.message}`, "error");
    }
  }

  async function load(refit = true) {
    const [zones, alerts] = await Promise.all([
      get("/api/zones", { limit: 500 }).then((r) => itemsOf(r, "zones")),
      get("/api/alerts", { limit: 200 }).then((r) => itemsOf(r, "alerts")).catch(() => []),
    ]);
    const nodes = lastPositions(alerts);
    state.zones = zones;
    state.nodes = nodes;
    map.setData({ zones, nodes, selected: state.selected, draft: state.draft }, { refit });
    paintList();
    paintEditor();
  }

  const modeButtons = editable ? h("div.row", { role: "toolbar", "aria-label": "Drawing" },
    h("button.btn.btn-small", { type: "button", id: "draw-circle", onclick: () => { map.setMode("circle"); toast("Press on the centre and drag to the edge"); } }, "◯ Draw circle"),
    h("button.btn.btn-small", { type: "button", id: "draw-polygon", onclick: () => { map.setMode("polygon"); toast("Click each corner; double-click or Finish to close"); } }, "⬠ Draw polygon"),
    h("button.btn.btn-small", { type: "button", id: "finish-polygon", onclick: () => map.finishPolygon() }, "Finish polygon")) : null;

  mount(root,
    h("div.page-head", h("h1", "Zones"), h("span.muted.small", "The map works offline: local coordinates, no tiles; dots are node positions reported with alerts")),
    h("div.split",
      h("section.card", { "aria-label": "Map" },
        h("div.toolbar", modeButtons, h("span.grow"),
          h("button.btn.btn-small.btn-icon", { type: "button", "aria-label": "Zoom in", onclick: () => map.zoom(1 / 1.25) }, "+"),
          h("button.btn.btn-small.btn-icon", { type: "button", "aria-label": "Zoom out", onclick: () => map.zoom(1.25) }, "−"),
          h("button.btn.btn-small", { type: "button", onclick: () => map.fit() }, "Fit")),
        map.el),
      h("div", editor, h("section.card", h("h2", "All zones"), list))));
  await load(true);
}
