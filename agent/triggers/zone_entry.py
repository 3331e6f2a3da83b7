"""zone_entry: a node enters a zone (with hysteresis: GPS jitter at the edge does not count)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import register_trigger
from agent.triggers._zone_base import ZoneTrigger


@register_trigger
class ZoneEntryTrigger(ZoneTrigger):
    type_name = "zone_entry"
    description = ("A node enters a zone (by more than the zone's margin, default 25 m); "
                   "filter by node, user or group")
    EXAMPLE: ClassVar[dict[str, Any]] = {"zone": "avalanche", "group": "north-team"}
