"""alert_severity: the event's alert severity is at least (or at most) a level."""

from __future__ import annotations

from typing import Any

from agent.conditions._domain import PATH, leaf
from agent.core.models import ALERT_SEVERITIES
from agent.engine.conditions import (
    Checker,
    ConditionContext,
    ConditionError,
    field_value,
    register_op,
)
from agent.modules.alerts import severity_rank

_LEVEL = {"enum": list(ALERT_SEVERITIES)}
_SCHEMA = leaf({"at_least": _LEVEL, "at_most": _LEVEL, "field": PATH}, [])
_SCHEMA["anyOf"] = [{"required": ["at_least"]}, {"required": ["at_most"]}]


@register_op("alert_severity", _SCHEMA,
             "the severity (field, default event.severity) is at least / at most a level "
             "(info < warning < critical)")
def compile_alert_severity(node: dict[str, Any], where: str) -> Checker:
    path = node.get("field", "event.severity")
    low = severity_rank(node.get("at_least", ALERT_SEVERITIES[0]))
    high = severity_rank(node.get("at_most", ALERT_SEVERITIES[-1]))

    def check(ctx: ConditionContext) -> bool:
        value = field_value(ctx, path, where)
        rank = severity_rank(value) if isinstance(value, str) else -1
        if rank < 0:
            raise ConditionError(f"{where}: {path}={value!r} is not a severity")
        return low <= rank <= high

    return check
