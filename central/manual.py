"""Running a process manually from the API: at central, or handed to its field stations.

A process assigned to station "central" runs in central's own engine at once. For every other
station it is assigned to ("*": every known station), central creates the execution row
(status "queued", the station's id, the trigger data) and a pending "run" command that the
sync delivers; the station runs it under the same execution uid and reports it back.
"""

from __future__ import annotations

from typing import Any

from agent.core.models import Process, ProcessAction, ProcessExecution, database, utcnow
from agent.engine.engine import EngineError, wait_for
from agent.engine.events import Event
from central.audit import audit
from central.auth import Principal
from central.commands import queue_command
from central.context import CentralContext

CENTRAL = "central"


class ExecuteError(Exception):
    """The process cannot be run now (inactive, no station, central engine not running)."""


def target_stations(ctx: CentralContext, process: Process) -> list[str]:
    """The stations a manual run goes to, in the order of the process's ``stations``."""
    targets: list[str] = []
    for station in process.stations or []:
        names = ctx.station_ids() if station == "*" else [station]
        targets += [s for s in names if s not in targets and (s != CENTRAL or station != "*")]
    return targets


def execute_process(ctx: CentralContext, process: Process, trigger_data: dict[str, Any],
                    user: Principal) -> list[int]:
    """Start or hand out the runs; returns the execution ids (central's first if it runs)."""
    if not process.is_active:
        raise ExecuteError(f"process {process.id} is not active")
    if process.paused:
        raise ExecuteError(f"process {process.id} is paused: {process.pause_reason or ''}")
    targets = target_stations(ctx, process)
    if not targets:
        raise ExecuteError(f"process {process.id} is assigned to no known station")
    if CENTRAL in targets and ctx.engine is None:
        raise ExecuteError("the central engine is not running")
    ids: list[int] = []
    for station in targets:
        if station == CENTRAL:
            ids.append(_run_at_central(ctx, process, trigger_data, user))
        else:
            ids.append(_hand_to_station(ctx, process, station, trigger_data, user))
    return ids


def _run_at_central(ctx: CentralContext, process: Process, data: dict[str, Any],
                    user: Principal) -> int:
    engine = ctx.engine
    timeout = ctx.settings.engine.execute_timeout_seconds
    loaded = engine.processes.get(process.uid)
    try:
        if loaded is None or loaded.version != process.version:
            wait_for(engine.call(lambda: engine.reload([process.uid])), timeout)
        handle = engine.run_process(process.uid, data, triggered_by=user.username, source="api")
        execution_id = int(wait_for(handle.created, timeout))
    except EngineError as exc:
        raise ExecuteError(f"the central engine could not run it: {exc}") from None
    with database.atomic():
        audit(user.username, "execute", "process", process.uid, None,
              {"station_id": CENTRAL, "execution_id": execution_id, "trigger_data": data})
    return execution_id


def _hand_to_station(ctx: CentralContext, process: Process, station: str,
                     data: dict[str, Any], user: Principal) -> int:
    event = Event(type="manual", data=dict(data), source="api",
                  keys=frozenset({process.uid}), triggered_by=user.username)
    total = ProcessAction.select().where(ProcessAction.process == process.id).count()
    now = utcnow()
    with database.atomic():
        execution = ProcessExecution.create(
            process_id=process.id, process_uid=process.uid, process_version=process.version,
            station_id=station, triggered_by=user.username, trigger_type="manual",
            trigger_event=event.to_record(), started_at=now, updated_at=now, status="queued",
            total_steps=total)
        queue_command("run", station, process.uid, execution_uid=execution.uid,
                      payload={"trigger_data": data, "triggered_by": user.username,
                               "process_version": process.version},
                      expire_hours=ctx.settings.commands.expire_hours)
        audit(user.username, "execute", "process", process.uid, None,
              {"station_id": station, "execution_id": execution.id,
               "execution_uid": execution.uid, "trigger_data": data})
    return int(execution.id)
