"""What zone_entry and zone_exit share: keyed by zone name, filtered by node, user or group."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType
from agent.modules.zones import zone_key

_NAME = {"type": "string", "minLength": 1, "maxLength": 100}

ZONE_TRIGGER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "zone": {**_NAME, "description": "the zone's name; absent: any zone"},
        "node_id": {"oneOf": [{"type": "string", "pattern": "^![0-9a-fA-F]{8}$"},
                              {"type": "array", "minItems": 1, "uniqueItems": True,
                               "items": {"type": "string", "pattern": "^![0-9a-fA-F]{8}$"}}],
                    "description": "only this node (or these nodes)"},
        "user": {**_NAME, "description": "only this user's nodes"},
        "group": {**_NAME, "description": "only nodes of members of this group"},
    },
    "additionalProperties": False,
}


class ZoneTrigger(TriggerType):
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = ZONE_TRIGGER_SCHEMA

    def index_keys(self) -> frozenset[str] | None:
        zone = self.config.get("zone")
        return frozenset({zone_key(zone)}) if zone else None

    def matches(self, event: Event) -> bool:
        data = event.data
        zone = self.config.get("zone")
        if zone and zone_key(str(data.get("zone") or "")) != zone_key(zone):
            return False
        nodes = self.config.get("node_id")
        if nodes is not None:
            wanted = {nodes.lower()} if isinstance(nodes, str) else {n.lower() for n in nodes}
            if str(data.get("node_id") or "").lower() not in wanted:
                return False
        user = self.config.get("user")
        if user is not None and str(data.get("user") or "").casefold() != user.casefold() \
                and data.get("user_uid") != user:
            return False
        group = self.config.get("group")
        if group is not None:
            groups = data.get("groups") or []
            if not any(isinstance(g, str) and g.casefold() == group.casefold() for g in groups):
                return False
        return True
