// Tiny DOM helpers: build elements without innerHTML (all text goes through text nodes).

const SVG_NS = "http://www.w3.org/2000/svg";

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.classList.add(...String(value).split(/\s+/).filter(Boolean));
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key === "value" || key === "checked" || key === "selected" || key === "indeterminate") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("button.btn.btn-primary", {onclick}, "Save") */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs instanceof Node || typeof attrs !== "object" || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = null;
  }
  applyAttrs(el, attrs);
  appendChildren(el, children);
  return el;
}

/** An SVG element: s("rect", {x: 0, y: 0, width: 10, height: 10}). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, String(value));
  }
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function mount(el, ...children) {
  clear(el);
  appendChildren(el, children);
  return el;
}

/** Run fn at most once per animation frame, however often it is asked for. */
export function frameBatch(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A labelled form field; `control` is the input element. */
export function field(label, control, { hint, id, check } = {}) {
  const inputId = id || control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = inputId;
  const lab = h("label", { for: inputId }, label);
  if (check) return h("div.field.check", control, lab, hint ? h("span.hint", hint) : null);
  return h("div.field", lab, hint ? h("span.hint", hint) : null, control);
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h(`div.toast${kind === "error" ? ".error" : ""}`, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

/** A modal dialog; resolves with the FormData on submit, null on cancel. */
export function dialog(title, body, { submitLabel = "OK", danger = false } = {}) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" },
      h("h2", title), body,
      h("div.dialog-actions",
        h("button.btn", { type: "button", value: "cancel", onclick: () => { dlg.close(); } }, "Cancel"),
        h(`button.btn.${danger ? "btn-danger" : "btn-primary"}`, { type: "submit", value: "ok" }, submitLabel)));
    const dlg = h("dialog", { "aria-label": title }, form);
    let result = null;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      result = new FormData(form);
      dlg.close();
    });
    dlg.addEventListener("close", () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  });
}

/** Offer a JSON document as a file download. */
export function downloadJson(filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A modal form that stays open until `submit()` succeeds; an error it throws is shown in the
 * dialog (with the API's per-field errors listed). Resolves true when saved, false on cancel.
 */
export function formDialog(title, body, submit, { submitLabel = "Save" } = {}) {
  return new Promise((resolve) => {
    const problems = h("div.errors-summary", { hidden: true, role: "alert" });
    const button = h("button.btn.btn-primary", { type: "submit" }, submitLabel);
    const form = h("form", { method: "dialog" }, h("h2", title), problems, body,
      h("div.dialog-actions", h("button.btn", { type: "button", onclick: () => dlg.close() }, "Cancel"), button));
    const dlg = h("dialog", { "aria-label": title }, form);
    let saved = false;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      button.disabled = true;
      try {
        await submit();
        saved = true;
        dlg.close();
      } catch (error) {
        const list = (error.errors || []).map((e) => h("li", h("code", e.path), ` ${e.reason}`));
        mount(problems, h("strong", error.message || String(error)), list.length ? h("ul", list) : null);
        problems.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
    dlg.addEventListener("close", () => { dlg.remove(); resolve(saved); });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  });
}
