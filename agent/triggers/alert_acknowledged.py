"""alert_acknowledged: an alert was acknowledged (filter by severity, source, zone)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import register_trigger
from agent.triggers._alert_base import AlertTrigger


@register_trigger
class AlertAcknowledgedTrigger(AlertTrigger):
    type_name = "alert_acknowledged"
    description = "An alert was acknowledged (by a process, a node, an operator or the system)"
    EXAMPLE: ClassVar[dict[str, Any]] = {"min_severity": "warning", "source": ["process", "node"]}
