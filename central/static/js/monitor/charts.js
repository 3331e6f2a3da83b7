// Plain SVG charts (no library): stacked columns over time, horizontal bars, a step timeline.
import { h, s } from "../lib/dom.js";
import { duration, parseTime } from "../lib/format.js";

export const SERIES = [
  { key: "completed", label: "Completed", color: "#17693a" },
  { key: "failed", label: "Failed or timed out", color: "#a61b12" },
  { key: "running", label: "Running or waiting", color: "#2251c2" },
  { key: "other", label: "Dropped or cancelled", color: "#8a94a6" },
];

export function outcome(status) {
  if (status === "completed") return "completed";
  if (status === "failed" || status === "timeout" || status === "interrupted") return "failed";
  if (status === "running" || status === "waiting" || status === "queued") return "running";
  return "other";
}

/** A maximum for four grid lines at round values: 4, 8, 20, 40, 80, 200... */
function niceMax(value) {
  const raw = Math.max(1, value / 4);
  const mag = 10 ** Math.floor(Math.log10(raw));
  return 4 * [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw);
}

/** Executions per time bucket, stacked by outcome. buckets: [{start: Date, counts: {...}}] */
export function columnsChart(buckets, { title = "Executions over time", width = 640, height = 220 } = {}) {
  const pad = { l: 36, r: 8, t: 10, b: 26 };
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const totals = buckets.map((b) => SERIES.reduce((n, sr) => n + (b.counts[sr.key] || 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const bw = iw / Math.max(1, buckets.length);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${totals.reduce((a, b) => a + b, 0)} executions` });
  for (let i = 0; i <= 4; i += 1) {
    const y = pad.t + ih - (ih * i) / 4;
    svg.append(s("line", { class: "grid-line", x1: pad.l, x2: width - pad.r, y1: y, y2: y }),
      s("text", { x: pad.l - 4, y: y + 4, "text-anchor": "end" }, String(Math.round((max * i) / 4))));
  }
  buckets.forEach((b, i) => {
    let y = pad.t + ih;
    const x = pad.l + i * bw + 1;
    for (const sr of SERIES) {
      const n = b.counts[sr.key] || 0;
      if (!n) continue;
      const bh = (n / max) * ih;
      y -= bh;
      svg.append(s("rect", { x, y, width: Math.max(1, bw - 2), height: bh, fill: sr.color },
        s("title", `${b.start.toLocaleTimeString()}: ${n} ${sr.label.toLowerCase()}`)));
    }
    const every = Math.ceil(buckets.length / Math.max(2, Math.floor(iw / 70)));
    if (i % every === 0) {
      svg.append(s("text", { x: x + bw / 2, y: height - 8, "text-anchor": "middle" },
        b.start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })));
    }
  });
  svg.append(s("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: pad.t + ih, y2: pad.t + ih }));
  return svg;
}

export function legend() {
  return h("div.legend", SERIES.map((sr) => h("span", h("i", { style: { background: sr.color } }), sr.label)));
}

/** Horizontal bars: items [{label, value, text}] with value in [0, max]. */
export function barsChart(items, { title, max, color = "#2251c2", width = 420 } = {}) {
  const row = 24;
  const labelW = 150;
  const height = Math.max(row, items.length * row) + 6;
  const top = max ?? Math.max(1e-9, ...items.map((i) => i.value));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  items.forEach((item, i) => {
    const y = i * row + 3;
    const w = Math.max(0, ((width - labelW - 70) * item.value) / top);
    svg.append(
      s("text", { x: labelW - 6, y: y + 15, "text-anchor": "end" }, item.label.length > 22 ? `${item.label.slice(0, 21)}…` : item.label),
      s("rect", { x: labelW, y: y + 4, width: width - labelW - 70, height: 14, fill: "#edf0f4", rx: 2 }),
      s("rect", { x: labelW, y: y + 4, width: w, height: 14, fill: item.color || color, rx: 2 }, s("title", `${item.label}: ${item.text}`)),
      s("text", { x: width - 64, y: y + 15 }, item.text));
  });
  if (!items.length) svg.append(s("text", { x: 8, y: 16 }, "No data yet"));
  return svg;
}

const STEP_COLORS = { completed: "#17693a", failed: "#a61b12", running: "#2251c2", skipped: "#8a94a6", pending: "#8a94a6" };

/** Which step ran when and how long: one bar per attempt on a shared time axis. */
export function timelineChart(execution, steps, { now = Date.now(), width = 720 } = {}) {
  const start = parseTime(execution.started_at)?.getTime() ?? now;
  const endOf = (st) => parseTime(st.completed_at)?.getTime() ?? (st.status === "running" ? now : parseTime(st.started_at)?.getTime() ?? start);
  const execEnd = parseTime(execution.completed_at)?.getTime() ?? Math.max(now, ...steps.map(endOf));
  const span = Math.max(1, execEnd - start);
  const labelW = Math.min(190, Math.max(120, width * 0.3));
  const row = 26;
  const height = (steps.length + 1) * row + 24;
  const x = (t) => labelW + ((width - labelW - 120) * (t - start)) / span;
  const svg = s("svg", { class: "chart timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Timeline of execution ${execution.id}: ${steps.length} step attempts over ${duration(span)}` });
  for (let i = 0; i <= 4; i += 1) {
    const t = start + (span * i) / 4;
    svg.append(s("line", { class: "grid-line", x1: x(t), x2: x(t), y1: 4, y2: height - 20 }),
      s("text", { class: "lbl", x: x(t), y: height - 6, "text-anchor": "middle" },
        span < 20 ? `+${(t - start).toFixed(1)} ms` : `+${duration(t - start)}`));
  }
  const ey = 4;
  svg.append(s("text", { x: labelW - 6, y: ey + 15, "text-anchor": "end" }, "execution"),
    s("rect", { x: x(start), y: ey + 5, width: Math.max(2, x(execEnd) - x(start)), height: 12, rx: 2, fill: "#c9d3e3" }),
    s("text", { class: "lbl", x: x(execEnd) + 6, y: ey + 15 }, `${execution.status} · ${duration(execEnd - start)}`));
  steps.forEach((st, i) => {
    const y = (i + 1) * row + 4;
    const t0 = parseTime(st.started_at)?.getTime() ?? start;
    const t1 = endOf(st);
    const retry = st.retry_count ? ` (retry ${st.retry_count})` : "";
    const timedOut = /time ?out/i.test(st.error_message || "");
    svg.append(
      s("text", { x: labelW - 6, y: y + 15, "text-anchor": "end" }, `${st.action_order}. ${st.action_type}${retry}`),
      s("rect", { x: x(t0), y: y + 5, width: Math.max(3, x(t1) - x(t0)), height: 14, rx: 2, fill: STEP_COLORS[st.status] || "#8a94a6",
        "stroke-dasharray": st.status === "running" ? "4 2" : null, stroke: st.status === "running" ? "#0b2a7a" : null },
      s("title", `${st.action_type}${retry}: ${st.status}, ${duration(st.execution_time_ms ?? t1 - t0)}${st.error_message ? ` — ${st.error_message}` : ""}`)),
      s("text", { class: "lbl", x: x(t1) + 6, y: y + 16 }, `${timedOut ? "timeout" : st.status} · ${duration(st.execution_time_ms ?? t1 - t0)}`));
  });
  return svg;
}
