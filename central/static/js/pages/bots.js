// Bots: named sets of message rules (keyword, command or regex -> templated reply).
import { get } from "../lib/api.js";
import { field, h, mount } from "../lib/dom.js";
import { badge } from "../lib/format.js";
import { can } from "../lib/session.js";
import { schemaForm } from "../builder/schema_form.js";
import { crudCard } from "./crud.js";

export async function render(root) {
  const editable = can("modules:edit");
  const ruleSchema = await get("/api/schema/bot-rule").catch(() => ({ type: "object" }));

  function rulesEditor(rules) {
    const box = h("div.stack");
    const paint = () => {
      mount(box, rules.map((rule, i) => h("div.item", { "data-path": `rules[${i}]` },
        h("div.item-head", h("span.title", rule.name || `rule ${i + 1}`),
          h("button.btn.btn-icon.btn-small.btn-danger", { type: "button", "aria-label": `Remove rule ${i + 1}`,
            onclick: () => { rules.splice(i, 1); paint(); } }, "✕")),
        h("div.item-body", schemaForm(ruleSchema, rule, `rules[${i}]`, () => {})))),
      h("button.btn.btn-small", { type: "button", onclick: () => {
        rules.push({ name: `rule ${rules.length + 1}`, match: "keyword", pattern: "", reply: "" });
        paint();
      } }, "+ Rule"));
    };
    paint();
    return box;
  }

  const card = crudCard({
    title: "Bots", noun: "bot", key: "bots", endpoint: "/api/bots", editable,
    emptyText: "No bots yet.",
    columns: [
      ["Name", (b) => h("strong", b.name)],
      ["Rules", (b) => (b.rules || []).map((r) => h("span.tag", `${r.match}: ${r.pattern}`))],
      ["Description", (b) => b.description || "—", "hide-sm"],
      ["State", (b) => badge(b.is_active === false ? "inactive" : "active", b.is_active === false ? "Inactive" : "Active")],
    ],
    editor: (b) => {
      const rules = JSON.parse(JSON.stringify(b?.rules || []));
      const name = h("input", { required: true, value: b?.name || "", maxlength: 200 });
      const description = h("textarea", { rows: 2, value: b?.description || "" });
      const active = h("input", { type: "checkbox", checked: b ? b.is_active !== false : true });
      return {
        body: h("div", field("Name", name), field("Description", description), field("Active", active, { check: true }),
          h("h3", "Rules"), rulesEditor(rules)),
        value: () => ({ name: name.value.trim(), description: description.value.trim() || null, is_active: active.checked, rules }),
      };
    },
  });
  mount(root, h("div.page-head", h("h1", "Bots"), h("span.muted.small", "Replies to messages on the mesh, run by each station")), card.el);
  await card.load();
}
