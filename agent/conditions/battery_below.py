"""battery_below: the node's last reported battery level is below a percentage."""

from __future__ import annotations

from typing import Any

from agent.conditions._domain import PATH, leaf, module, text_at
from agent.engine.conditions import Checker, ConditionContext, ConditionError, register_op


@register_op("battery_below",
             leaf({"node": PATH, "percent": {"type": "number", "minimum": 0, "maximum": 101}},
                  ["node", "percent"]),
             "the node's (a field path) last reported battery level is below percent "
             "(cannot be evaluated while none is known)")
def compile_battery_below(node: dict[str, Any], where: str) -> Checker:
    path, percent = node["node"], float(node["percent"])

    def check(ctx: ConditionContext) -> bool:
        node_id = text_at(ctx, path, where)
        row = module(ctx, "geo", where).node(node_id)
        if row is None or row.battery_level is None:
            raise ConditionError(f"{where}: no battery level known for {node_id}")
        return float(row.battery_level) < percent

    return check
