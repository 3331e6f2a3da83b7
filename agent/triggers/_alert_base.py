"""What the three alert triggers share: filters by severity (the index key), source and zone."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.core.models import ALERT_SEVERITIES
from agent.engine.events import Event
from agent.engine.registry import TriggerType
from agent.modules.alerts import ALERT_SOURCES, severity_rank


def _one_or_many(values: list[str]) -> dict[str, Any]:
    return {"oneOf": [{"enum": values}, {"type": "array", "items": {"enum": values},
                                          "minItems": 1, "uniqueItems": True}]}


ALERT_TRIGGER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "severity": {**_one_or_many(list(ALERT_SEVERITIES)),
                     "description": "only alerts of this severity (or these severities)"},
        "min_severity": {"enum": list(ALERT_SEVERITIES),
                         "description": "only alerts at least this severe"},
        "source": {**_one_or_many(list(ALERT_SOURCES)),
                   "description": "process, node, operator or system"},
        "zone": {"type": "string", "minLength": 1, "maxLength": 100,
                 "description": "only alerts about this zone"},
        "node_id": {"type": "string", "minLength": 1, "maxLength": 20},
    },
    "additionalProperties": False,
}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class AlertTrigger(TriggerType):
    """Base of alert_created, alert_acknowledged, alert_resolved."""

    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = ALERT_TRIGGER_SCHEMA

    def __init__(self, config: dict[str, Any], *, process_uid: str, trigger_uid: str) -> None:
        super().__init__(config, process_uid=process_uid, trigger_uid=trigger_uid)
        if "severity" in config and "min_severity" in config:
            raise ValueError("severity, min_severity: give one or the other")

    def index_keys(self) -> frozenset[str] | None:
        severities = _as_list(self.config.get("severity"))
        if "min_severity" in self.config:
            floor = severity_rank(self.config["min_severity"])
            severities = [s for s in ALERT_SEVERITIES if severity_rank(s) >= floor]
        return frozenset(severities) if severities else None

    def matches(self, event: Event) -> bool:
        data = event.data
        sources = _as_list(self.config.get("source"))
        if sources and data.get("source") not in sources:
            return False
        zone = self.config.get("zone")
        if zone is not None and str(data.get("zone") or "").casefold() != zone.casefold():
            return False
        node_id = self.config.get("node_id")
        if node_id is not None and data.get("node_id") != node_id:
            return False
        keys = self.index_keys()
        return keys is None or data.get("severity") in keys
