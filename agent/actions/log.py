"""log: a line in the execution log (and the result), e.g. to record a decision."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionType, register_action


@register_action
class LogAction(ActionType):
    type_name = "log"
    description = "Write a line to the execution log"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "minLength": 1, "maxLength": 2000},
            "level": {"enum": ["info", "warning", "error"], "default": "info"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"message": "SOS from {{ event.from_name }}"}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        message = str(config["message"])
        ctx.log(config.get("level", "info"), message)
        return {"message": message}
