"""in_group: the user (or the node's user) at a field path is a member of a group."""

from __future__ import annotations

from typing import Any

from agent.conditions._domain import NAME, PATH, leaf, module, text_at
from agent.engine.conditions import Checker, ConditionContext, ConditionError, register_op
from agent.modules.fleet import NotFound

_SCHEMA = leaf({"node": PATH, "user": PATH, "group": NAME}, ["group"])
_SCHEMA["oneOf"] = [{"required": ["node"]}, {"required": ["user"]}]


@register_op("in_group", _SCHEMA,
             "the user (user: a path to a name or uid) or the owner of the node (node: a path "
             "to a node id) is a member of the group; a node without a user is in no group")
def compile_in_group(node: dict[str, Any], where: str) -> Checker:
    group = node["group"]
    node_path, user_path = node.get("node"), node.get("user")

    def check(ctx: ConditionContext) -> bool:
        users = module(ctx, "users", where)
        try:
            if node_path is not None:
                user = users.user_for_node(text_at(ctx, node_path, where))
                if user is None:
                    users.find_group(group)  # an unknown group is still an error
                    return False
            else:
                user = users.find_user(text_at(ctx, str(user_path), where))
            return bool(users.in_group(user, group))
        except NotFound as exc:
            raise ConditionError(f"{where}: {exc}") from None

    return check
