"""Records as the API shows them (the seed's fields plus what real operation added).

One home for each shape, shared by every API module, so the OpenAPI schemas in
central/api/_schemas.py describe exactly these dicts. Secrets are never part of a view.
Timestamps are UTC in RFC 3339 form ("2026-11-26T07:27:09.082564Z").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.core.models import (
    AdminUser,
    Process,
    ProcessAction,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    ProcessTemplate,
    ProcessTrigger,
)
from agent.core.records import EXECUTION_FIELDS, LOG_FIELDS, STEP_FIELDS, fields_of


def iso(value: dt.datetime | None) -> str | None:
    """A naive-UTC timestamp as RFC 3339 (with "Z"): what the API answers everywhere."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite text that was not parsed (an unusual format)
        return value
    return value.isoformat(timespec="microseconds") + "Z"


def process_view(p: Process) -> dict[str, Any]:
    return {
        "id": p.id,
        "uid": p.uid,
        "name": p.name,
        "description": p.description,
        "template_id": p.template_id,
        "created_by": p.created_by,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
        "is_active": p.is_active,
        "execution_count": p.execution_count,
        "last_executed": iso(p.last_executed),
        "success_rate": p.success_rate,
        "avg_execution_time": p.avg_execution_time,
        "success_count": p.success_count,
        "mode": p.mode,
        "max": p.max_runs,
        "stations": list(p.stations or []),
        "version": p.version,
        "paused": p.paused,
        "pause_reason": p.pause_reason,
    }


def trigger_view(t: ProcessTrigger) -> dict[str, Any]:
    return {
        "id": t.id,
        "uid": t.uid,
        "trigger_type": t.trigger_type,
        "trigger_config": t.trigger_config,
        "conditions": t.conditions,
        "priority": t.priority,
        "is_active": t.is_active,
        "created_at": iso(t.created_at),
    }


def action_view(a: ProcessAction) -> dict[str, Any]:
    return {
        "id": a.id,
        "uid": a.uid,
        "action_type": a.action_type,
        "action_config": a.action_config,
        "conditions": a.conditions,
        "action_order": a.action_order,
        "timeout_seconds": a.timeout_seconds,
        "retry_count": a.retry_count,
        "created_at": iso(a.created_at),
    }


def process_detail_view(p: Process) -> dict[str, Any]:
    triggers = ProcessTrigger.select().where(ProcessTrigger.process == p.id) \
        .order_by(ProcessTrigger.id)
    actions = ProcessAction.select().where(ProcessAction.process == p.id) \
        .order_by(ProcessAction.action_order)
    return {**process_view(p), "triggers": [trigger_view(t) for t in triggers],
            "actions": [action_view(a) for a in actions]}


def execution_view(e: ProcessExecution, process_name: str | None = None) -> dict[str, Any]:
    return {"id": e.id, "process_id": e.process_id, "process_name": process_name,
            **fields_of(e, EXECUTION_FIELDS, iso), "resume_at": iso(e.resume_at)}


def step_view(s: ProcessExecutionStep) -> dict[str, Any]:
    return {"id": s.id, "execution_id": s.__data__.get("execution"), "action_id": s.action_id,
            **fields_of(s, STEP_FIELDS, iso)}


def log_view(g: ProcessExecutionLog) -> dict[str, Any]:
    return fields_of(g, LOG_FIELDS, iso)


def template_view(t: ProcessTemplate) -> dict[str, Any]:
    return {
        "id": t.id,
        "uid": t.uid,
        "name": t.name,
        "description": t.description,
        "category": t.category,
        "template_data": t.template_data,
        "usage_count": t.usage_count,
        "created_by": t.created_by,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "is_public": t.is_public,
    }


def user_view(u: AdminUser) -> dict[str, Any]:
    """An admin user without its password hash."""
    return {"id": u.id, "uid": u.uid, "username": u.username, "role": u.role,
            "is_active": u.is_active, "created_at": iso(u.created_at)}
