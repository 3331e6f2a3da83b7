"""What acknowledge_alert and resolve_alert share: which alerts a step means.

By uid (``alert_uid``: ``{{ steps.1.result.alert_uid }}``), or the open alerts raised by a
process (this one unless ``process`` names another) for a node and/or a zone.
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import Any, ClassVar

from agent.core.models import ALERT_SEVERITIES, Alert
from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType
from agent.modules.alerts import AlertError

TARGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "alert_uid": {"type": "string", "maxLength": 200,
                      "description": "this alert (e.g. {{ steps.1.result.alert_uid }})"},
        "process": {"type": "string", "maxLength": 200,
                    "description": "alerts raised by this process (name or uid); default: "
                                   "this process"},
        "node_id": {"type": "string", "maxLength": 200,
                    "description": "only alerts about this node (e.g. {{ event.node_id }})"},
        "zone": {"type": "string", "maxLength": 200, "description": "only alerts about this zone"},
        "severity": {"type": "string", "description": "only alerts of this severity"},
        "require_match": {"type": "boolean", "default": False,
                          "description": "fail the step when no alert matches"},
    },
    "additionalProperties": False,
}


class AlertTargetAction(ActionType, abc.ABC):
    """Base: ``change(alerts, alert, by)`` is acknowledge or resolve."""

    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = TARGET_SCHEMA
    verb: ClassVar[str]
    statuses: ClassVar[tuple[str, ...]]

    def validate_extra(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        severity = config.get("severity")
        if isinstance(severity, str) and "{{" not in severity \
                and severity not in ALERT_SEVERITIES:
            return [("severity", f"must be one of {', '.join(ALERT_SEVERITIES)}")]
        return []

    @abc.abstractmethod
    def change(self, alerts: Any, alert: Alert, by: str) -> Any:
        """Apply this action's change (acknowledge, resolve) to one alert."""

    def targets(self, ctx: ActionContext, alerts: Any, config: dict[str, Any]) -> list[Alert]:
        uid = config.get("alert_uid")
        if uid:
            try:
                return [alerts.find(str(uid))]
            except AlertError as exc:
                raise ActionFailed(str(exc), retryable=False) from None
        process_uid = ctx.process_uid
        if config.get("process"):
            from agent.processes import ProcessNotFound, find_process

            try:
                process_uid = find_process(str(config["process"])).uid
            except ProcessNotFound as exc:
                raise ActionFailed(f"process: {exc}", retryable=False) from None
        try:
            return list(alerts.raised_by(process_uid, node_id=config.get("node_id") or None,
                                         zone=config.get("zone") or None,
                                         severity=config.get("severity") or None,
                                         statuses=self.statuses))
        except AlertError as exc:
            raise ActionFailed(str(exc), retryable=False) from None

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        alerts = ctx.services.get("alerts")
        found = self.targets(ctx, alerts, config)
        if not found and config.get("require_match"):
            raise ActionFailed(f"no open alert matches (to {self.verb})", retryable=False)
        changed = []
        for alert in found:
            event = self.change(alerts, alert, f"process:{ctx.process_name}")
            if event is not None:
                changed.append(alert.uid)
                ctx.emitted.append(replace(event, chain=ctx.chain))
        if not changed:
            ctx.log("info", f"{self.verb}: no alert changed ({len(found)} matched)")
        return {"alert_uids": changed, "alert_uid": changed[0] if changed else None,
                "count": len(changed), "matched": len(found)}
