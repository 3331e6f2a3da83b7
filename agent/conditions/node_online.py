"""node_online: the node at a field path is online (heard lately, as the radio tracks it)."""

from __future__ import annotations

from typing import Any

from agent.conditions._domain import PATH, leaf, module, text_at
from agent.engine.conditions import Checker, ConditionContext, register_op


@register_op("node_online", leaf({"node": PATH, "value": {"type": "boolean"}}, ["node"]),
             "the node (a field path) is online; a node never heard is not (value: false "
             "for offline)")
def compile_node_online(node: dict[str, Any], where: str) -> Checker:
    path, wanted = node["node"], node.get("value", True)

    def check(ctx: ConditionContext) -> bool:
        row = module(ctx, "geo", where).node(text_at(ctx, path, where))
        online = row is not None and bool(row.online)
        return bool(online == wanted)

    return check
