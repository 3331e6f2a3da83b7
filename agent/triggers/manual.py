"""manual: run by a person (API, web page, command line, a mesh command) with trigger_data."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import TriggerType, register_trigger


@register_trigger
class ManualTrigger(TriggerType):
    type_name = "manual"
    description = "Run on request: the API's execute, `firefly-agent process run`, `!run` on the mesh"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "maxLength": 500},
            "allow_mesh": {"type": "boolean", "description": "may be run with !run from a handset"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"allow_mesh": True}

    def index_keys(self) -> frozenset[str]:
        return frozenset({self.process_uid})
