"""user_registered: a new user, from a node heard for the first time or added by an operator."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType, register_trigger


@register_trigger
class UserRegisteredTrigger(TriggerType):
    type_name = "user_registered"
    description = ("A user was registered: a node heard for the first time (by: mesh) or a "
                   "user added by an operator")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "by": {"enum": ["mesh", "operator", "any"], "default": "any",
                   "description": "mesh: first heard on the radio; operator: added by hand"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"by": "mesh"}

    def matches(self, event: Event) -> bool:
        by = self.config.get("by", "any")
        if by == "any":
            return True
        came_from_mesh = event.data.get("by") == "mesh"
        return came_from_mesh if by == "mesh" else not came_from_mesh
