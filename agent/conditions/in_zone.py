"""in_zone: the node at a field path is inside a zone now ({"node": "event.from_id"})."""

from __future__ import annotations

from typing import Any

from agent.conditions._domain import NAME, PATH, leaf, module, text_at
from agent.engine.conditions import Checker, ConditionContext, ConditionError, register_op
from agent.modules.fleet import NotFound


@register_op("in_zone", leaf({"node": PATH, "zone": NAME}, ["node", "zone"]),
             "the node (a field path) is inside the zone now (with the zone's hysteresis)")
def compile_in_zone(node: dict[str, Any], where: str) -> Checker:
    path, zone = node["node"], node["zone"]

    def check(ctx: ConditionContext) -> bool:
        node_id = text_at(ctx, path, where)
        try:
            inside = module(ctx, "zones", where).is_inside(zone, node_id)
        except NotFound as exc:
            raise ConditionError(f"{where}.zone: {exc}") from None
        if inside is None:
            raise ConditionError(f"{where}: no known position of {node_id}")
        return bool(inside)

    return check
