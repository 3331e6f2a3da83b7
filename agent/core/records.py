"""Station-owned records as plain dicts: what the outbox carries and central ingests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.core.models import (
    Alert,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
        "uid": execution.uid,
        "process_uid": execution.process_uid,
        "process_version": execution.process_version,
        "station_id": execution.station_id,
        "triggered_by": execution.triggered_by,
        "trigger_type": execution.trigger_type,
        "trigger_event": execution.trigger_event,
        "started_at": iso(execution.started_at),
        "completed_at": iso(execution.completed_at),
        "status": execution.status,
        "error_message": execution.error_message,
        "execution_time_ms": execution.execution_time_ms,
        "steps_completed": execution.steps_completed,
        "total_steps": execution.total_steps,
        "updated_at": iso(execution.updated_at),
        "steps": [
            {
                "uid": s.uid,
                "action_uid": s.action_uid,
                "action_order": s.action_order,
                "action_type": s.action_type,
                "started_at": iso(s.started_at),
                "completed_at": iso(s.completed_at),
                "status": s.status,
                "result": s.result,
                "error_message": s.error_message,
                "execution_time_ms": s.execution_time_ms,
                "retry_count": s.retry_count,
            }
            for s in steps
        ],
        "logs": [
            {"seq": g.seq, "at": iso(g.at), "level": g.level, "step": g.step, "message": g.message}
            for g in logs
        ],
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
