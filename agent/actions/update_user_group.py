"""update_user_group: add a user to groups or remove them (a user_group_changed event)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import InvalidRecord, NotFound

_GROUPS = {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 100},
                     {"type": "array", "items": {"type": "string", "maxLength": 100},
                      "maxItems": 64}]}


@register_action
class UpdateUserGroupAction(ActionType):
    type_name = "update_user_group"
    description = "Add a user (by name, uid or one of their nodes) to groups, or remove them"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "user": {"type": "string", "maxLength": 200, "description": "name or uid"},
            "node_id": {"type": "string", "maxLength": 200,
                        "description": "instead of user: the user owning this node"},
            "add": _GROUPS,
            "remove": _GROUPS,
            "create_groups": {"type": "boolean", "default": False,
                              "description": "create a group to add that does not exist"},
        },
        "anyOf": [{"required": ["user"]}, {"required": ["node_id"]}],
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"node_id": "{{ event.from_id }}", "add": ["checked-in"]}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        users = ctx.services.get("users")
        try:
            if config.get("user"):
                user = users.find_user(str(config["user"]))
            else:
                user = users.user_for_node(str(config.get("node_id") or ""))
                if user is None:
                    raise NotFound(f"no user owns node {config.get('node_id')!r}")
            added, removed, events = users.change_groups(
                user, _names(config.get("add")), _names(config.get("remove")),
                by=f"process:{ctx.process_name}",
                create_missing=bool(config.get("create_groups")))
        except (NotFound, InvalidRecord) as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        ctx.emitted.extend(replace(e, chain=ctx.chain) for e in events)
        return {"user": user.name, "user_uid": user.uid, "added": added, "removed": removed,
                "groups": users.group_names(user)}


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]
