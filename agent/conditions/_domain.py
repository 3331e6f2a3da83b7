"""Helpers of the domain condition operators: reaching a module, reading a node id."""

from __future__ import annotations

from typing import Any

from agent.engine.conditions import ConditionContext, ConditionError, field_value

PATH = {"type": "string", "minLength": 1, "maxLength": 200,
        "description": "a field path such as event.from_id"}
NAME = {"type": "string", "minLength": 1, "maxLength": 200}


def module(ctx: ConditionContext, name: str, where: str) -> Any:
    modules = getattr(ctx.services, "modules", None) or {}
    found = modules.get(name)
    if found is None:
        raise ConditionError(f"{where}: the {name} module is not available here")
    return found


def text_at(ctx: ConditionContext, path: str, where: str) -> str:
    value = field_value(ctx, path, where)
    if not isinstance(value, str) or not value:
        raise ConditionError(f"{where}: {path} is not a node id or name ({value!r})")
    return value


def leaf(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["op", *required],
            "properties": {"op": {"type": "string"}, **properties},
            "additionalProperties": False}
