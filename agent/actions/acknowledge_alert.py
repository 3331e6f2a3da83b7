"""acknowledge_alert: acknowledge an alert by uid, or those this process raised for a node/zone."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.actions._alert_target import AlertTargetAction
from agent.core.models import Alert
from agent.engine.registry import register_action


@register_action
class AcknowledgeAlertAction(AlertTargetAction):
    type_name = "acknowledge_alert"
    description = ("Acknowledge an alert (by uid), or the open alerts raised by this process "
                   "for a node or zone")
    verb = "acknowledge"
    statuses = ("open",)
    EXAMPLE: ClassVar[dict[str, Any]] = {"alert_uid": "{{ steps.1.result.alert_uid }}"}

    def change(self, alerts: Any, alert: Alert, by: str) -> Any:
        return alerts.acknowledge(alert, by)
