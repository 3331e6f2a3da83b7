"""create_alert: raise an alert on the station (it syncs to central and is an event)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.alerts import AlertError


@register_action
class CreateAlertAction(ActionType):
    type_name = "create_alert"
    description = "Raise an alert (severity info, warning or critical)"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["title"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "message": {"type": "string", "maxLength": 2000},
            "severity": {"type": "string", "default": "info",
                         "description": "info, warning or critical (may be a template)"},
            "node_id": {"type": "string", "description": "the node concerned; its last "
                        "known position is attached"},
            "zone": {"type": "string", "description": "the zone concerned; default: the zone "
                     "the node is in now, if any"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "title": "SOS from {{ event.from_name }}", "severity": "critical",
        "message": "{{ event.text }}", "node_id": "{{ event.from_id }}",
    }

    def validate_extra(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        severity = config.get("severity", "info")
        if "{{" not in severity and severity not in ("info", "warning", "critical"):
            return [("severity", "must be one of info, warning, critical")]
        return []

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        alerts = ctx.services.get("alerts")
        node_id = config.get("node_id") or None
        lat = lon = None
        geo = ctx.services.modules.get("geo")
        if node_id and geo is not None:
            position = geo.last_position(node_id)
            if position is not None:
                lat, lon = position
        zone = config.get("zone") or None
        zones = ctx.services.modules.get("zones")
        if zone is None and node_id and zones is not None:
            inside = zones.zones_of(node_id)
            zone = inside[0].name if inside else None
        try:
            alert, event = alerts.create(
                title=str(config["title"]), message=str(config.get("message", "")),
                severity=str(config.get("severity", "info")), source="process",
                source_ref=ctx.execution_uid, node_id=node_id, zone=zone,
                lat=lat, lon=lon, created_by=f"process:{ctx.process_name}",
                process_uid=ctx.process_uid,
            )
        except AlertError as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        ctx.emitted.append(replace(event, chain=ctx.chain))
        return {"alert_id": alert.id, "alert_uid": alert.uid, "severity": alert.severity,
                "lat": lat, "lon": lon, "zone": zone}
