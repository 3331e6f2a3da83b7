// Users (people with mesh nodes) and the groups they belong to.
import { field, h, mount } from "../lib/dom.js";
import { badge } from "../lib/format.js";
import { can } from "../lib/session.js";
import { crudCard, splitList } from "./crud.js";

const CHANNELS = ["mesh", "mqtt", "feed"];

function checkboxes(name, options, chosen) {
  const boxes = options.map(([value, label]) => h("input", { type: "checkbox", name, value, checked: chosen.includes(value) }));
  return {
    el: h("div.row", { role: "group" }, boxes.map((b, i) => h("label.small", b, ` ${options[i][1]}`))),
    value: () => boxes.filter((b) => b.checked).map((b) => b.value),
  };
}

export async function render(root) {
  const editable = can("modules:edit");
  let groups = [];
  let users = [];
  const groupName = (uid) => groups.find((g) => g.uid === uid)?.name || uid;

  const usersCard = crudCard({
    title: "Users", noun: "user", key: "users", endpoint: "/api/users", editable,
    emptyText: "No users yet: nodes heard by a station can be registered here.",
    onLoad: (records) => { users = records; groupsCard.load().catch(() => {}); },
    columns: [
      ["Name", (u) => h("strong", u.name)],
      ["Nodes", (u) => (u.node_ids || []).map((n) => h("span.tag", n))],
      ["Groups", (u) => (u.group_names || (u.groups || []).map(groupName)).map((g) => h("span.tag", g))],
      ["Channels", (u) => (u.channels || []).join(", "), "hide-sm"],
      ["State", (u) => badge(u.is_active === false ? "inactive" : "active", u.is_active === false ? "Inactive" : "Active")],
    ],
    editor: (u) => {
      const name = h("input", { required: true, value: u?.name || "", maxlength: 200 });
      const nodes = h("input", { value: (u?.node_ids || []).join(", "), placeholder: "!a1b2c3d4, !e5f6a7b8" });
      const groupBoxes = checkboxes("groups", groups.map((g) => [g.uid, g.name]), u?.groups || []);
      const channels = checkboxes("channels", CHANNELS.map((c) => [c, c]), u?.channels || ["mesh"]);
      const active = h("input", { type: "checkbox", checked: u ? u.is_active !== false : true });
      return {
        body: h("div", field("Name", name), field("Node ids", nodes, { hint: "comma-separated" }),
          h("div.field", h("span.label", h("strong.small", "Groups")), groups.length ? groupBoxes.el : h("span.hint", "No groups yet.")),
          h("div.field", h("strong.small", "Notify through"), channels.el), field("Active", active, { check: true })),
        value: () => ({ name: name.value.trim(), node_ids: splitList(nodes.value), groups: groupBoxes.value(),
          channels: channels.value(), is_active: active.checked }),
      };
    },
  });

  const groupsCard = crudCard({
    title: "Groups", noun: "group", key: "groups", endpoint: "/api/groups", editable,
    onLoad: (records) => { groups = records; },
    columns: [
      ["Name", (g) => h("strong", g.name)],
      ["Description", (g) => g.description || "—", "hide-sm"],
      ["Members", (g) => String(g.member_count ?? users.filter((u) => (u.groups || []).includes(g.uid)).length), "num"],
      ["Channels", (g) => (g.channels || []).join(", "), "hide-sm"],
      ["State", (g) => badge(g.is_active === false ? "inactive" : "active", g.is_active === false ? "Inactive" : "Active")],
    ],
    editor: (g) => {
      const name = h("input", { required: true, value: g?.name || "", maxlength: 200 });
      const description = h("textarea", { rows: 2, value: g?.description || "" });
      const channels = checkboxes("channels", CHANNELS.map((c) => [c, c]), g?.channels || ["mesh", "feed"]);
      const topic = h("input", { value: g?.mqtt_topic || "", placeholder: "derived from the name when empty" });
      const active = h("input", { type: "checkbox", checked: g ? g.is_active !== false : true });
      return {
        body: h("div", field("Name", name), field("Description", description),
          h("div.field", h("strong.small", "Notify through"), channels.el), field("MQTT topic", topic), field("Active", active, { check: true })),
        value: () => ({ name: name.value.trim(), description: description.value.trim() || null, channels: channels.value(),
          mqtt_topic: topic.value.trim() || null, is_active: active.checked }),
      };
    },
  });

  mount(root, h("div.page-head", h("h1", "Users and groups")), h("div.grid-2", usersCard.el, groupsCard.el));
  groups = await groupsCard.load().catch(() => []);
  await usersCard.load();
}
