// Login form: POST /api/auth/login sets the session cookie; then the page starts.
import { h, mount } from "../lib/dom.js";
import * as session from "../lib/session.js";

export function renderLogin(root, onDone) {
  const error = h("p.field-error", { role: "alert", hidden: true });
  const username = h("input", { name: "username", autocomplete: "username", required: true, id: "login-username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, id: "login-password" });
  const button = h("button.btn.btn-primary", { type: "submit" }, "Log in");
  const form = h("form.card.login", {
    "aria-labelledby": "login-title",
    onsubmit: async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      button.disabled = true;
      try {
        const who = await session.login(username.value.trim(), password.value);
        if (!who) throw new Error("the session was not opened (are cookies allowed?)");
        await onDone();
      } catch (err) {
        error.textContent = err.status === 401 || err.status === 400
          ? "Wrong user name or password." : `Could not log in: ${err.message}`;
        error.hidden = false;
        password.select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h("div.brand-big", h("img", { src: "/static/img/firefly.svg", alt: "", width: 36, height: 36 }), "Firefly Processes"),
  h("h1", { id: "login-title" }, "Log in"),
  h("div.field", h("label", { for: "login-username" }, "User name"), username),
  h("div.field", h("label", { for: "login-password" }, "Password"), password),
  error,
  button);
  mount(root, form);
  username.focus();
}
