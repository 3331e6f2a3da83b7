"""get_users_in_zone: who is inside a zone now (its result feeds later steps)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import NotFound


@register_action
class GetUsersInZoneAction(ActionType):
    type_name = "get_users_in_zone"
    description = ("The users inside a zone now, with their node ids: {users, user_uids, "
                   "node_ids, count}; by zone name, or the zones a node is in")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "zone": {"type": "string", "maxLength": 200, "description": "the zone's name or uid"},
            "node_id": {"type": "string", "maxLength": 200,
                        "description": "instead of zone: the zones this node is in now "
                                       "(e.g. {{ event.node_id }})"},
            "group": {"type": "string", "maxLength": 100,
                      "description": "only members of this group"},
            "online_only": {"type": "boolean", "default": False},
        },
        "anyOf": [{"required": ["zone"]}, {"required": ["node_id"]}],
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"zone": "{{ event.zone }}"}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        zones, users = ctx.services.get("zones"), ctx.services.get("users")
        try:
            if config.get("zone"):
                found = [zones.find(str(config["zone"]))]
            elif config.get("node_id"):
                found = zones.zones_of(str(config["node_id"]))
            else:
                raise ActionFailed("zone or node_id: one is required (it rendered empty)",
                                   retryable=False)
            group = users.find_group(str(config["group"])) if config.get("group") else None
        except NotFound as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        geo = ctx.services.modules.get("geo")
        node_ids: list[str] = []
        for zone in found:
            if not zone.is_active:
                continue
            node_ids += [n for n in zones.nodes_inside(zone) if n not in node_ids]
        if config.get("online_only") and geo is not None:
            node_ids = [n for n in node_ids if (node := geo.node(n)) is not None and node.online]
        people: dict[str, Any] = {}
        kept: list[str] = []
        for node_id in node_ids:
            user = users.user_for_node(node_id)
            if group is not None and (user is None or group.uid not in (user.groups or [])):
                continue
            kept.append(node_id)
            if user is not None:
                people.setdefault(user.uid, user)
        names = sorted(u.name for u in people.values())
        return {"zone": found[0].name if found else None, "zones": [z.name for z in found],
                "users": names, "user_uids": [u.uid for u in sorted(people.values(),
                                                                      key=lambda u: u.name)],
                "node_ids": sorted(kept), "count": len(names)}
