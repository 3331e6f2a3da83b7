"""delay: wait, durably: a restart during the wait resumes it at the same end time."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import ActionType, register_action


@register_action
class DelayAction(ActionType):
    type_name = "delay"
    description = "Wait before the next action (survives restarts)"
    effect = "delay"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": 604_800},
            "minutes": {"type": "number", "minimum": 0, "maximum": 10_080},
        },
        "anyOf": [{"required": ["seconds"]}, {"required": ["minutes"]}],
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"minutes": 30}
