"""Station-owned records as plain dicts: what the outbox carries and central ingests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from peewee import Model

from agent.core.models import (
    Alert,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
)

# The fields of a station's execution records, in wire order (docs/protocol.md refers here).
# Central's API shows the same fields (central/views.py), adding its ids, in its time format.
EXECUTION_FIELDS = (
    "uid", "process_uid", "process_version", "station_id", "triggered_by", "trigger_type",
    "trigger_event", "started_at", "completed_at", "status", "error_message",
    "execution_time_ms", "steps_completed", "total_steps", "updated_at",
)
STEP_FIELDS = (
    "uid", "action_uid", "action_order", "action_type", "started_at", "completed_at", "status",
    "result", "error_message", "execution_time_ms", "retry_count",
)
LOG_FIELDS = ("seq", "at", "level", "step", "message")


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def fields_of(row: Model, names: Iterable[str],
              time_text: Callable[[dt.datetime], str | None] = iso) -> dict[str, Any]:
    """``row``'s named fields as plain values, its times as text by ``time_text``."""
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(row, name)
        values[name] = time_text(value) if isinstance(value, dt.datetime) else value
    return values


def execution_record(execution: ProcessExecution) -> dict[str, Any]:
    steps = (
        ProcessExecutionStep.select()
        .where(ProcessExecutionStep.execution == execution.id)
        .order_by(ProcessExecutionStep.id)
    )
    logs = (
        ProcessExecutionLog.select()
        .where(ProcessExecutionLog.execution == execution.id)
        .order_by(ProcessExecutionLog.seq)
    )
    return {
        **fields_of(execution, EXECUTION_FIELDS),
        "steps": [fields_of(s, STEP_FIELDS) for s in steps],
        "logs": [fields_of(g, LOG_FIELDS) for g in logs],
    }


def alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "uid": alert.uid,
        "severity": alert.severity,
        "title": alert.title,
        "message": alert.message,
        "source": alert.source,
        "source_ref": alert.source_ref,
        "process_uid": alert.process_uid,
        "node_id": alert.node_id,
        "zone": alert.zone,
        "lat": alert.lat,
        "lon": alert.lon,
        "status": alert.status,
        "created_at": iso(alert.created_at),
        "created_by": alert.created_by,
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "station_id": alert.station_id,
        "updated_at": iso(alert.updated_at),
        "hlc": alert.hlc,
    }
