"""alert_created: an alert was created (filter by severity, source, zone)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import register_trigger
from agent.triggers._alert_base import AlertTrigger


@register_trigger
class AlertCreatedTrigger(AlertTrigger):
    type_name = "alert_created"
    description = "An alert was created (by a process, a node, an operator or the system)"
    EXAMPLE: ClassVar[dict[str, Any]] = {"min_severity": "warning", "source": ["process", "node"]}
