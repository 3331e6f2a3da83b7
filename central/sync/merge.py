"""Station edits of fleet-owned records, and command results, merged at central.

The rule (docs/protocol.md, "Merging edits"): last writer wins on the hybrid logical clock;
a delete is a tombstone that wins or loses like an edit. Whichever version loses is written
to the audit trail (``sync-merge``: the stored version was replaced, it is in ``before``;
``sync-conflict-lost``: the station's version lost, it is in ``before``), so no edit
disappears without trace. A station may edit only processes assigned to it and cannot change
their assignment: a process it creates is assigned to it alone.
"""

from __future__ import annotations

from typing import Any

from agent.core.ids import HybridClock, parse_hlc
from agent.core.models import Process, ProcessExecution, utcnow
from agent.core.module_models import FLEET_MODELS
from agent.definitions import DefinitionError, validate_definition
from agent.modules import fleet
from agent.processes import runs_on, save_process
from agent.sync.records import newer, process_record
from central.audit import audit
from central.models import CentralCommand
from central.sync.feed import note_change
from central.sync.rows import RecordError

MERGED, LOST = "sync-merge", "sync-conflict-lost"
FINAL_COMMAND_STATUSES = ("done", "failed")
COMMAND_RESULTS = ("done", "failed", "expired")


def _clock_value(record: dict[str, Any], where: str) -> tuple[str, str, bool]:
    uid, hlc, deleted = record.get("uid"), record.get("hlc"), record.get("deleted", False)
    if not isinstance(uid, str) or not uid or len(uid) > 64:
        raise RecordError(f"{where}.uid: required")
    if not isinstance(hlc, str):
        raise RecordError(f"{where}.hlc: required")
    try:
        parse_hlc(hlc)
    except ValueError:
        raise RecordError(f"{where}.hlc: {hlc[:40]!r} is not a clock value") from None
    if not isinstance(deleted, bool):
        raise RecordError(f"{where}.deleted: expected true or false")
    return uid, hlc, deleted


def merge_process(station: str, record: dict[str, Any], clock: HybridClock) -> bool:
    """A process edited (or deleted) at ``station``; True when central's version changed."""
    uid, hlc, deleted = _clock_value(record, "process")
    actor = f"station:{station}"
    current = Process.get_or_none(Process.uid == uid)
    if current is not None and not runs_on(current.stations, station):
        raise RecordError(f"process {uid}: not assigned to station {station}")
    clock.observe(hlc)
    if current is None and deleted:
        return False
    if current is not None and not newer(hlc, current.hlc):
        audit(actor, LOST, "process", uid, before=record, after=process_record(current))
        return False
    before = process_record(current) if current is not None else None
    if deleted:
        assert current is not None
        current.deleted, current.hlc, current.origin = True, hlc, station
        current.updated_at = utcnow()
        current.save()
        process = current
    else:
        definition = record.get("definition")
        if not isinstance(definition, dict):
            raise RecordError(f"process {uid}.definition: must be an object")
        stations = list(current.stations) if current is not None else [station]
        try:
            checked = validate_definition({**definition, "uid": uid, "stations": stations})
        except DefinitionError as exc:
            raise RecordError(f"process {uid}: {exc}") from None
        process = save_process(checked, existing=current, origin=station, hlc=hlc,
                               validated=True)
        ProcessExecution.update(process_id=process.id).where(
            (ProcessExecution.process_uid == uid) & (ProcessExecution.process_id == 0)).execute()
    audit(actor, MERGED, "process", uid, before=before, after=process_record(process))
    note_change("process", uid, clock)
    return True


def merge_fleet(station: str, kind: str, record: dict[str, Any], clock: HybridClock) -> bool:
    """A zone, user, group or bot edited at ``station``; True when central's changed."""
    uid, _hlc, _deleted = _clock_value(record, kind)
    model = FLEET_MODELS[kind]
    row = model.get_or_none(model.uid == uid)
    before = fleet.record_of(row) if row is not None else None
    try:
        applied = fleet.apply_remote(kind, {**record, "origin": station}, clock)
    except fleet.InvalidRecord as exc:
        raise RecordError(str(exc)) from None
    actor = f"station:{station}"
    if not applied:
        audit(actor, LOST, kind, uid, before=record, after=before)
        return False
    after = model.get_or_none(model.uid == uid)
    audit(actor, MERGED, kind, uid, before=before,
          after=fleet.record_of(after) if after is not None else None)
    note_change(kind, uid, clock)
    return True


def command_result(station: str, record: dict[str, Any]) -> bool:
    """A station's result for a command; True when the command's status changed."""
    uid, status = record.get("uid"), record.get("status")
    if not isinstance(uid, str) or status not in COMMAND_RESULTS:
        raise RecordError("command: needs a uid and a status of "
                          f"{', '.join(COMMAND_RESULTS)}")
    command = CentralCommand.get_or_none(CentralCommand.uid == uid)
    if command is None or command.station_id != station:
        raise RecordError(f"command {uid}: no such command for station {station}")
    if command.status in FINAL_COMMAND_STATUSES:
        return False
    now = utcnow()
    CentralCommand.update(status=status, updated_at=now).where(
        CentralCommand.id == command.id).execute()
    if status != "done" and command.execution_uid:
        detail = str(record.get("detail") or status)[:2000]
        ProcessExecution.update(
            status="failed" if status == "failed" else "dropped", completed_at=now,
            updated_at=now, error_message=f"station {station}: {detail}").where(
            (ProcessExecution.uid == command.execution_uid)
            & (ProcessExecution.status == "queued")).execute()
    return True
