"""What user_online and user_offline share: keyed by node id, optionally filtered."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType

NODE_ID = {"type": "string", "pattern": "^![0-9a-fA-F]{8}$"}

PRESENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "node_id": {"oneOf": [NODE_ID, {"type": "array", "minItems": 1, "maxItems": 500,
                                        "uniqueItems": True, "items": NODE_ID}],
                    "description": "only this node (or these nodes); absent: every node"},
        "user_uid": {"type": "string", "minLength": 1, "maxLength": 64,
                     "description": "only the nodes of this user"},
    },
    "additionalProperties": False,
}


class PresenceTrigger(TriggerType):
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = PRESENCE_SCHEMA

    def _nodes(self) -> frozenset[str] | None:
        nodes = self.config.get("node_id")
        if nodes is None:
            return None
        return frozenset({nodes.lower()} if isinstance(nodes, str) else {n.lower() for n in nodes})

    def index_keys(self) -> frozenset[str] | None:
        return self._nodes()

    def matches(self, event: Event) -> bool:
        user = self.config.get("user_uid")
        return user is None or event.data.get("user_uid") == user
