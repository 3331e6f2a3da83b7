"""resolve_alert: resolve an alert by uid, or those this process raised for a node/zone."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.actions._alert_target import AlertTargetAction
from agent.core.models import Alert
from agent.engine.registry import register_action


@register_action
class ResolveAlertAction(AlertTargetAction):
    type_name = "resolve_alert"
    description = ("Resolve an alert (by uid), or the open alerts raised by this process (or "
                   "the one named) for a node or zone")
    verb = "resolve"
    statuses = ("open", "acknowledged")
    EXAMPLE: ClassVar[dict[str, Any]] = {"node_id": "{{ event.node_id }}",
                                         "zone": "{{ event.zone }}"}

    def change(self, alerts: Any, alert: Alert, by: str) -> Any:
        return alerts.resolve(alert, by)
