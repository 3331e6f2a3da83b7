"""Storing process definitions: whole or not at all, every version kept.

Used by the agent's command line, the sync client and central's API alike.
"""

from __future__ import annotations

from typing import Any

from agent.core.ids import new_uid
from agent.core.models import (
    Process,
    ProcessAction,
    ProcessTrigger,
    ProcessVersion,
    database,
    utcnow,
)
from agent.definitions import slug, validate_definition


class ProcessNotFound(LookupError):
    pass


def save_process(
    data: dict[str, Any],
    *,
    existing: Process | None = None,
    origin: str = "",
    hlc: str = "",
    created_by: int | None = None,
    validated: bool = False,
) -> Process:
    """Validate ``data`` and store it as a new process or a new version of ``existing``.

    Raises DefinitionError before anything is written; the write itself is one transaction.
    """
    d = data if validated else validate_definition(data)
    with database.atomic():
        if existing is None:
            uid = d.get("uid") or new_uid()
            process = Process.get_or_none(Process.uid == uid)
            if process is None:
                process = Process(uid=uid, created_by=created_by, version=0)
        else:
            process = existing
        process.name = d["name"]
        process.description = d.get("description")
        process.is_active = d["is_active"]
        process.template_id = d.get("template_id")
        process.mode = d["mode"]
        process.max_runs = d["max"]
        process.stations = d["stations"]
        process.version = (process.version or 0) + 1
        process.updated_at = utcnow()
        process.hlc = hlc
        process.origin = origin
        process.deleted = False
        process.save()
        ProcessTrigger.delete().where(ProcessTrigger.process == process).execute()
        ProcessAction.delete().where(ProcessAction.process == process).execute()
        for t in d["triggers"]:
            t["uid"] = t.get("uid") or new_uid()
            ProcessTrigger.create(
                uid=t["uid"],
                process=process,
                trigger_type=t["trigger_type"],
                trigger_config=t["trigger_config"],
                conditions=t["conditions"],
                priority=t["priority"],
                is_active=t["is_active"],
            )
        for a in d["actions"]:
            a["uid"] = a.get("uid") or new_uid()
            ProcessAction.create(
                uid=a["uid"],
                process=process,
                action_type=a["action_type"],
                action_config=a["action_config"],
                conditions=a["conditions"],
                action_order=a["action_order"],
                timeout_seconds=a["timeout_seconds"],
                retry_count=a["retry_count"],
            )
        ProcessVersion.create(
            process=process, version=process.version, definition=definition_of(process)
        )
    return process


def definition_of(process: Process) -> dict[str, Any]:
    """The process as a definition document (what export prints and import reads)."""
    triggers = ProcessTrigger.select().where(ProcessTrigger.process == process.id)
    actions = (
        ProcessAction.select()
        .where(ProcessAction.process == process.id)
        .order_by(ProcessAction.action_order)
    )
    return {
        "uid": process.uid,
        "version": process.version,
        "name": process.name,
        "description": process.description,
        "is_active": process.is_active,
        "template_id": process.template_id,
        "mode": process.mode,
        "max": process.max_runs,
        "stations": process.stations,
        "triggers": [
            {
                "uid": t.uid,
                "trigger_type": t.trigger_type,
                "trigger_config": t.trigger_config,
                "conditions": t.conditions,
                "priority": t.priority,
                "is_active": t.is_active,
            }
            for t in triggers
        ],
        "actions": [
            {
                "uid": a.uid,
                "action_type": a.action_type,
                "action_config": a.action_config,
                "conditions": a.conditions,
                "action_order": a.action_order,
                "timeout_seconds": a.timeout_seconds,
                "retry_count": a.retry_count,
            }
            for a in actions
        ],
    }


def runs_on(stations: list[str] | None, station_id: str) -> bool:
    """Whether a process assigned to ``stations`` runs on ``station_id`` ("*": every field
    station; central's own engine, station "central", runs only what names it)."""
    if not stations:
        return False
    return station_id in stations or ("*" in stations and station_id != "central")


def find_process(ref: str | int) -> Process:
    """A process by id, uid or name (the command line and mesh commands accept any)."""
    query = Process.select().where(~Process.deleted)
    text = str(ref)
    process = None
    if text.isdigit():
        process = query.where(Process.id == int(text)).first()
    process = process or query.where(Process.uid == text).first()
    if process is None:
        wanted = slug(text)
        process = next((p for p in query if slug(p.name) == wanted), None)
    if process is None:
        raise ProcessNotFound(f"no process {ref!r}")
    return process
