// Formatting shared by the pages: times, durations, status words as badges.
import { h } from "./dom.js";

/** Timestamps from the API are UTC, with or without a zone suffix. */
export function parseTime(value) {
  if (!value) return null;
  if (typeof value === "number") return new Date(value * 1000);
  const text = String(value);
  const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(" ", "T")}Z`;
  const date = new Date(zoned);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function ago(value, now = Date.now()) {
  const date = parseTime(value);
  if (!date) return "never";
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function dateTime(value) {
  const date = parseTime(value);
  return date ? date.toLocaleString() : "—";
}

export function timeOnly(value) {
  const date = parseTime(value);
  return date ? date.toLocaleTimeString() : "—";
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  const value = rate <= 1 ? rate * 100 : rate;
  return `${Math.round(value)} %`;
}

const STATUS_CLASS = {
  completed: "s-ok", ok: "s-ok", active: "s-ok", online: "s-ok", resolved: "s-ok",
  failed: "s-fail", timeout: "s-fail", interrupted: "s-fail", critical: "s-fail", offline: "s-fail", error: "s-fail",
  running: "s-run", queued: "s-run", waiting: "s-run", pending: "s-run", open: "s-warn", acknowledged: "s-run",
  warning: "s-warn", paused: "s-warn", dropped: "s-idle", cancelled: "s-idle", skipped: "s-idle",
  inactive: "s-idle", info: "s-idle",
};

export function statusClass(status) {
  return STATUS_CLASS[status] || "s-idle";
}

/** A status word as a badge: colour, symbol and the word itself. */
export function badge(status, label) {
  return h(`span.badge.${statusClass(status)}`, { "data-status": status }, label || status || "unknown");
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export const FINISHED = new Set(["completed", "failed", "timeout", "interrupted", "dropped", "cancelled"]);
