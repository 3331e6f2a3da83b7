// An offline map: zones and node positions drawn on an SVG canvas in local metres, with an
// equirectangular projection around the zones' centre, a grid and a scale bar. No tiles, no
// external script. Circles and polygons are drawn, selected and edited with the pointer;
// the zone form next to the map is the keyboard alternative.
import { s, h, frameBatch } from "../lib/dom.js";

const M_PER_DEG_LAT = 110574;
const M_PER_DEG_LON = 111320; // at the equator; times cos(latitude)

export function projection(lat0, lon0) {
  const k = Math.cos((lat0 * Math.PI) / 180);
  return {
    lat0, lon0,
    toXY: (lat, lon) => [(lon - lon0) * M_PER_DEG_LON * k, (lat - lat0) * M_PER_DEG_LAT],
    toLatLon: (x, y) => [lat0 + y / M_PER_DEG_LAT, lon0 + x / (M_PER_DEG_LON * k)],
  };
}

export function niceStep(span) {
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw);
}

function fmtMetres(m) {
  return m >= 1000 ? `${m / 1000} km` : `${m} m`;
}

/** Points of a zone in lat/lon: the polygon, or the circle's centre. */
function zonePoints(z) {
  if (z.shape === "polygon" && Array.isArray(z.polygon) && z.polygon.length) return z.polygon;
  return [[z.center_lat, z.center_lon]];
}

export function createMap({ onSelect, onGeometry, onDrawn }) {
  const svg = s("svg", { class: "map", role: "application", tabindex: "0",
    "aria-label": "Map of zones and nodes. Arrow keys pan, plus and minus zoom." });
  const status = h("div.map-legend", { "aria-live": "polite" });
  const el = h("div.map-wrap", svg, status);
  let data = { zones: [], nodes: [], selected: null, draft: null };
  let proj = projection(0, 0);
  let view = { cx: 0, cy: 0, span: 2000 }; // metres across the shorter side
  let mode = "select";
  let gesture = null;

  function size() {
    const r = svg.getBoundingClientRect();
    return { w: Math.max(1, r.width || 600), h: Math.max(1, r.height || 400) };
  }

  function metresPerPixel() {
    const { w, h: hh } = size();
    return view.span / Math.min(w, hh);
  }

  function toUser(ev) {
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return [p.x, -p.y]; // y north-positive
  }

  function fit() {
    const pts = [];
    for (const z of data.zones) {
      for (const [lat, lon] of zonePoints(z)) if (Number.isFinite(lat) && Number.isFinite(lon)) pts.push([lat, lon, z.shape === "circle" ? z.radius_m || 0 : 0]);
    }
    for (const n of data.nodes) if (Number.isFinite(n.lat) && Number.isFinite(n.lon)) pts.push([n.lat, n.lon, 0]);
    if (!pts.length) {
      proj = projection(0, 0);
      view = { cx: 0, cy: 0, span: 2000 };
      paint();
      return;
    }
    const lats = pts.map((p) => p[0]);
    const lons = pts.map((p) => p[1]);
    proj = projection((Math.min(...lats) + Math.max(...lats)) / 2, (Math.min(...lons) + Math.max(...lons)) / 2);
    let minX = Infinity; let maxX = -Infinity; let minY = Infinity; let maxY = -Infinity;
    for (const [lat, lon, r] of pts) {
      const [x, y] = proj.toXY(lat, lon);
      minX = Math.min(minX, x - r); maxX = Math.max(maxX, x + r); minY = Math.min(minY, y - r); maxY = Math.max(maxY, y + r);
    }
    view = { cx: (minX + maxX) / 2, cy: (minY + maxY) / 2, span: Math.max(200, (maxX - minX), (maxY - minY)) * 1.3 };
    paint();
  }

  function zoneShape(z, cls, key) {
    const attrs = { class: cls, "data-zone": key };
    if (z.shape === "polygon") {
      const pts = (z.polygon || []).map(([lat, lon]) => proj.toXY(lat, lon)).map(([x, y]) => `${x},${-y}`).join(" ");
      return s(key === "draft" && mode === "polygon" ? "polyline" : "polygon", { ...attrs, points: pts });
    }
    const [x, y] = proj.toXY(z.center_lat, z.center_lon);
    return s("circle", { ...attrs, cx: x, cy: -y, r: Math.max(0, z.radius_m || 0) });
  }

  function handles(z, key, mpp) {
    const r = 6 * mpp;
    const out = [];
    if (z.shape === "polygon") {
      (z.polygon || []).forEach(([lat, lon], i) => {
        const [x, y] = proj.toXY(lat, lon);
        out.push(s("circle", { class: "handle", cx: x, cy: -y, r, "data-handle": `v${i}`, "data-zone": key }, s("title", `vertex ${i + 1}`)));
      });
    } else {
      const [x, y] = proj.toXY(z.center_lat, z.center_lon);
      out.push(s("circle", { class: "handle", cx: x, cy: -y, r, "data-handle": "center", "data-zone": key }, s("title", "centre: drag to move")));
      out.push(s("circle", { class: "handle", cx: x + (z.radius_m || 0), cy: -y, r, "data-handle": "radius", "data-zone": key }, s("title", "edge: drag to resize")));
    }
    return out;
  }

  function paint() {
    const { w, h: hh } = size();
    const mpp = metresPerPixel();
    const vw = w * mpp;
    const vh = hh * mpp;
    const x0 = view.cx - vw / 2;
    const y0 = -view.cy - vh / 2;
    svg.setAttribute("viewBox", `${x0} ${y0} ${vw} ${vh}`);
    const step = niceStep(view.span);
    const grid = [];
    for (let gx = Math.ceil(x0 / step) * step; gx < x0 + vw; gx += step) grid.push(s("line", { class: "gridl", x1: gx, x2: gx, y1: y0, y2: y0 + vh }));
    for (let gy = Math.ceil(y0 / step) * step; gy < y0 + vh; gy += step) grid.push(s("line", { class: "gridl", x1: x0, x2: x0 + vw, y1: gy, y2: gy }));
    const font = 12 * mpp;
    const zones = data.zones.map((z) => {
      const key = String(z.id ?? z.uid ?? z.name);
      const selected = data.selected === key;
      const [lx, ly] = proj.toXY(...centreOf(z));
      return s("g", { "data-zone-name": z.name },
        zoneShape(z, `zone${selected ? " selected" : ""}`, key),
        s("text", { class: "label", x: lx, y: -ly, "text-anchor": "middle", "font-size": font, "stroke-width": 3 * mpp }, z.name),
        selected && mode === "select" ? handles(z, key, mpp) : null);
    });
    const draft = data.draft ? s("g", zoneShape(data.draft, "draft", "draft"), handles(data.draft, "draft", mpp)) : null;
    const nodes = data.nodes.filter((n) => Number.isFinite(n.lat) && Number.isFinite(n.lon)).map((n) => {
      const [x, y] = proj.toXY(n.lat, n.lon);
      return s("g", { "data-node": n.node_id || n.id },
        s("circle", { class: "node", cx: x, cy: -y, r: 5 * mpp }, s("title", `${n.name || n.node_id}${n.last_heard ? ` · ${n.last_heard}` : ""}`)),
        s("text", { class: "label", x: x + 8 * mpp, y: -y + 4 * mpp, "font-size": font * 0.9, "stroke-width": 3 * mpp }, n.name || n.node_id || ""));
    });
    // scale bar, bottom right, in map units
    const bar = step; // the scale bar is one grid square
    const bx = x0 + vw - bar - 16 * mpp;
    const by = y0 + vh - 16 * mpp;
    const scale = s("g", { "aria-hidden": "true" },
      s("rect", { x: bx - 6 * mpp, y: by - 22 * mpp, width: bar + 12 * mpp, height: 30 * mpp, fill: "rgba(255,255,255,.85)", rx: 3 * mpp }),
      s("line", { x1: bx, x2: bx + bar, y1: by, y2: by, stroke: "#18202c", "stroke-width": 3 * mpp }),
      s("line", { x1: bx, x2: bx, y1: by - 6 * mpp, y2: by, stroke: "#18202c", "stroke-width": 2 * mpp }),
      s("line", { x1: bx + bar, x2: bx + bar, y1: by - 6 * mpp, y2: by, stroke: "#18202c", "stroke-width": 2 * mpp }),
      s("text", { x: bx + bar / 2, y: by - 8 * mpp, "text-anchor": "middle", "font-size": font, fill: "#18202c" }, fmtMetres(bar)));
    svg.replaceChildren(s("rect", { x: x0, y: y0, width: vw, height: vh, fill: "#eef3ee", "data-background": "1" }),
      ...grid, ...zones, ...(draft ? [draft] : []), ...nodes, scale, s("title", "Zones map"));
    status.textContent = `grid ${fmtMetres(step)} · centre ${proj.lat0.toFixed(5)}, ${proj.lon0.toFixed(5)}${mode !== "select" ? ` · drawing a ${mode}` : ""}`;
  }
  const repaint = frameBatch(paint);

  function centreOf(z) {
    if (z.shape === "polygon" && z.polygon?.length) {
      const n = z.polygon.length;
      return [z.polygon.reduce((a, p) => a + p[0], 0) / n, z.polygon.reduce((a, p) => a + p[1], 0) / n];
    }
    return [z.center_lat, z.center_lon];
  }

  function zoneByKey(key) {
    if (key === "draft") return data.draft;
    return data.zones.find((z) => String(z.id ?? z.uid ?? z.name) === key);
  }

  svg.addEventListener("pointerdown", (ev) => {
    svg.focus();
    const [x, y] = toUser(ev);
    const target = ev.target;
    if (mode === "circle") {
      const [lat, lon] = proj.toLatLon(x, y);
      data.draft = { shape: "circle", center_lat: lat, center_lon: lon, radius_m: 0, name: "", margin_m: 25, is_active: true };
      gesture = { kind: "draw-circle", x, y };
    } else if (mode === "polygon") {
      const [lat, lon] = proj.toLatLon(x, y);
      data.draft ||= { shape: "polygon", polygon: [], name: "", margin_m: 25, is_active: true };
      data.draft.polygon.push([lat, lon]);
      repaint();
      return;
    } else if (target.dataset?.handle) {
      gesture = { kind: "handle", handle: target.dataset.handle, key: target.dataset.zone };
    } else if (target.dataset?.zone) {
      onSelect(target.dataset.zone);
      gesture = { kind: "pan", x: ev.clientX, y: ev.clientY, view: { ...view } };
    } else {
      gesture = { kind: "pan", x: ev.clientX, y: ev.clientY, view: { ...view } };
    }
    svg.setPointerCapture(ev.pointerId);
  });

  svg.addEventListener("pointermove", (ev) => {
    if (!gesture) return;
    if (gesture.kind === "pan") {
      const mpp = metresPerPixel();
      view.cx = gesture.view.cx - (ev.clientX - gesture.x) * mpp;
      view.cy = gesture.view.cy + (ev.clientY - gesture.y) * mpp;
      repaint();
      return;
    }
    const [x, y] = toUser(ev);
    if (gesture.kind === "draw-circle") {
      data.draft.radius_m = Math.round(Math.hypot(x - gesture.x, y - gesture.y));
    } else if (gesture.kind === "handle") {
      const z = zoneByKey(gesture.key);
      if (!z) return;
      if (gesture.handle === "center") {
        [z.center_lat, z.center_lon] = proj.toLatLon(x, y);
      } else if (gesture.handle === "radius") {
        const [cx, cy] = proj.toXY(z.center_lat, z.center_lon);
        z.radius_m = Math.max(1, Math.round(Math.hypot(x - cx, y - cy)));
      } else {
        z.polygon[Number(gesture.handle.slice(1))] = proj.toLatLon(x, y);
      }
      onGeometry(z);
    }
    repaint();
  });

  const endGesture = () => {
    if (gesture?.kind === "draw-circle") {
      if (data.draft.radius_m < 5) data.draft.radius_m = Math.round(view.span / 10);
      setMode("select");
      onDrawn(data.draft);
    }
    gesture = null;
  };
  svg.addEventListener("pointerup", endGesture);
  svg.addEventListener("pointercancel", endGesture);

  svg.addEventListener("dblclick", (ev) => {
    if (mode === "polygon") {
      ev.preventDefault();
      finishPolygon();
    }
  });

  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    zoom(ev.deltaY > 0 ? 1.2 : 1 / 1.2);
  }, { passive: false });

  svg.addEventListener("keydown", (ev) => {
    const stepM = view.span / 10;
    const moves = { ArrowLeft: [-stepM, 0], ArrowRight: [stepM, 0], ArrowUp: [0, stepM], ArrowDown: [0, -stepM] };
    if (moves[ev.key]) {
      view.cx += moves[ev.key][0];
      view.cy += moves[ev.key][1];
      repaint();
    } else if (ev.key === "+" || ev.key === "=") zoom(1 / 1.25);
    else if (ev.key === "-") zoom(1.25);
    else if (ev.key === "Enter" && mode === "polygon") finishPolygon();
    else if (ev.key === "Escape" && mode !== "select") { data.draft = null; setMode("select"); }
    else return;
    ev.preventDefault();
  });

  function finishPolygon() {
    const pts = data.draft?.polygon || [];
    // a double click adds the same point twice
    const clean = pts.filter((p, i) => i === 0 || Math.abs(p[0] - pts[i - 1][0]) + Math.abs(p[1] - pts[i - 1][1]) > 1e-9);
    if (clean.length < 3) return;
    data.draft.polygon = clean;
    const [lat, lon] = centreOf(data.draft);
    data.draft.center_lat = lat;
    data.draft.center_lon = lon;
    setMode("select");
    onDrawn(data.draft);
  }

  function zoom(factor) {
    view.span = Math.min(5e6, Math.max(20, view.span * factor));
    repaint();
  }

  function setMode(next) {
    mode = next;
    if (next === "polygon") data.draft = null;
    svg.style.cursor = next === "select" ? "" : "crosshair";
    repaint();
  }

  new ResizeObserver(repaint).observe(svg);

  return {
    el,
    setData(next, { refit = false } = {}) {
      data = { ...data, ...next };
      if (refit) fit();
      else repaint();
    },
    setMode,
    finishPolygon,
    zoom,
    fit,
    mode: () => mode,
  };
}
