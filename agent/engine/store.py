"""Every database write the engine makes for an execution, in one place.

All functions run on the engine thread inside a transaction the runner holds open.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import fn

from agent.core.codec import encode
from agent.core.models import (
    Outbox,
    Process,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    utcnow,
)
from agent.core.records import execution_record
from agent.engine.compiled import CompiledAction, CompiledProcess
from agent.engine.events import Event

COUNTED_STATUSES = frozenset({"completed", "failed", "timeout", "interrupted"})


def create_execution(
    process: CompiledProcess, event: Event, station_id: str, status: str, error: str | None = None,
    uid: str | None = None,
) -> ProcessExecution:
    """``uid``: given when central created the execution (a run command); else a new one."""
    now = utcnow()
    return ProcessExecution.create(
        **({"uid": uid} if uid else {}),
        process_id=process.id,
        process_uid=process.uid,
        process_version=process.version,
        station_id=station_id,
        triggered_by=event.triggered_by,
        trigger_type=event.type,
        trigger_event=event.to_record(),
        started_at=now,
        updated_at=now,
        status=status,
        error_message=error,
        total_steps=len(process.actions),
        completed_at=now if status == "dropped" else None,
    )


def add_log(execution_id: int, seq: int, message: str, level: str = "info",
            step: int | None = None) -> None:
    ProcessExecutionLog.create(execution=execution_id, seq=seq, level=level, step=step,
                               message=message[:2000])


def add_logs(rows: list[dict[str, Any]]) -> None:
    """Write buffered log lines (and empty the buffer)."""
    if rows:
        ProcessExecutionLog.insert_many(rows).execute()
        rows.clear()


def add_step(execution_id: int, action: CompiledAction, attempt: int, status: str,
             started_at: dt.datetime, **fields: Any) -> ProcessExecutionStep:
    return ProcessExecutionStep.create(
        execution=execution_id,
        action_id=action.id,
        action_uid=action.uid,
        action_order=action.order,
        action_type=action.type_name,
        retry_count=attempt,
        status=status,
        started_at=started_at,
        **fields,
    )


def update_step(step_id: int, **fields: Any) -> None:
    ProcessExecutionStep.update(**fields).where(ProcessExecutionStep.id == step_id).execute()


def update_execution(execution_id: int, **fields: Any) -> None:
    fields["updated_at"] = utcnow()
    ProcessExecution.update(**fields).where(ProcessExecution.id == execution_id).execute()


def finish_execution(execution_id: int, process_id: int, status: str, error: str | None,
                     elapsed_ms: int, steps_completed: int) -> None:
    """Close the execution and update the process's counters incrementally (no scans)."""
    now = utcnow()
    update_execution(
        execution_id,
        status=status,
        error_message=error,
        completed_at=now,
        execution_time_ms=elapsed_ms,
        steps_completed=steps_completed,
        resume_at=None,
    )
    if status in COUNTED_STATUSES:
        success = 1 if status == "completed" else 0
        count = Process.execution_count + 1
        average = fn.COALESCE(Process.avg_execution_time, 0.0)
        Process.update(
            execution_count=count,
            success_count=Process.success_count + success,
            success_rate=(Process.success_count + success) * 1.0 / count,
            avg_execution_time=average + (elapsed_ms - average) / count,
            last_executed=now,
        ).where(Process.id == process_id).execute()


def outbox_execution(execution_id: int) -> None:
    """Queue the execution's current state for central (same transaction as the change)."""
    execution = ProcessExecution.get_by_id(execution_id)
    Outbox.create(kind="execution", uid=execution.uid,
                  payload=encode("execution", execution_record(execution)))
