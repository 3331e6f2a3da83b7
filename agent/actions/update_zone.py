"""update_zone: activate or deactivate a zone, change its shape, margin or metadata."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import InvalidRecord, NotFound

_NUMBER = {"type": ["number", "string"], "description": "a number, or a template giving one"}


@register_action
class UpdateZoneAction(ActionType):
    type_name = "update_zone"
    description = "Activate or deactivate a zone, or change its shape, margin or metadata"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["zone"],
        "properties": {
            "zone": {"type": "string", "minLength": 1, "maxLength": 200,
                     "description": "the zone's name or uid"},
            "is_active": {"type": ["boolean", "string"]},
            "center_lat": _NUMBER,
            "center_lon": _NUMBER,
            "radius_m": _NUMBER,
            "polygon": {"type": ["array", "string"],
                        "description": "[[lat, lon], ...] (a circle becomes a polygon)"},
            "margin_m": _NUMBER,
            "metadata": {"type": "object",
                         "description": "keys to set (null removes a key); others are kept"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"zone": "avalanche", "is_active": True,
                                         "metadata": {"risk": "high"}}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        zones = ctx.services.get("zones")
        try:
            zone = zones.find(str(config["zone"]))
        except NotFound as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        changes: dict[str, Any] = {}
        for name in ("center_lat", "center_lon", "radius_m", "margin_m"):
            if name in config and config[name] not in (None, ""):
                changes[name] = _number(name, config[name])
        if "polygon" in config:
            changes["polygon"] = config["polygon"]
        if "is_active" in config:
            changes["is_active"] = _boolean(config["is_active"])
        if isinstance(config.get("metadata"), dict):
            merged = dict(zone.metadata or {})
            for key, value in config["metadata"].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            changes["metadata"] = merged
        if not changes:
            raise ActionFailed("nothing to change: give is_active, a shape, margin_m or metadata",
                               retryable=False)
        try:
            zones.update(zone, changes)
        except InvalidRecord as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        return {"zone": zone.name, "zone_uid": zone.uid, "is_active": zone.is_active,
                "shape": zone.shape, "changed": sorted(changes), "metadata": zone.metadata}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ActionFailed(f"{name}: must be a number", retryable=False)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ActionFailed(f"{name}: {value!r} is not a number", retryable=False) from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no",
                                                            "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ActionFailed(f"is_active: {value!r} is not true or false", retryable=False)
