"""Idempotent bulk upserts of station-owned records: executions (with steps and logs), alerts,
notifications.

Keyed by uid; a stored row is replaced only by a newer version of the same station's record
(executions: ``updated_at``; alerts and notifications: ``hlc``), so re-delivered, re-sent or
overtaken batches never move a row backwards, and one station can never overwrite another's
row. Executions of processes central does not know are stored with ``process_id`` 0.

The records arrive decoded into the types below (``RECORD_TYPES``, compiled from the models:
central/sync/rows.py), their values already checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from msgspec import Struct
from msgspec.structs import astuple
from peewee import Model

from agent.core.models import (
    ALERT_SEVERITIES,
    ALERT_STATUSES,
    EXECUTION_STATUSES,
    STEP_STATUSES,
    Alert,
    Process,
    ProcessAction,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
)
from agent.core.module_models import Notification
from agent.sync.records import newer
from central.sync.bulk import (
    copies,
    copy_rows,
    ids_by_uid,
    insert_rows,
    parents_just_inserted,
    run_sql,
)
from central.sync.rows import RecordError, columns_of, finish, record_type, row_of

T = TypeVar("T")
CHUNK = 400

StepRecord = record_type(ProcessExecutionStep, exclude=("id", "execution", "action_id"),
                         enums={"status": STEP_STATUSES})
LogRecord = record_type(ProcessExecutionLog, exclude=("id", "execution"), required=("seq",))
ExecutionRecord = record_type(ProcessExecution, exclude=("id", "process_id", "resume_at"),
                              enums={"status": EXECUTION_STATUSES},
                              children={"steps": StepRecord, "logs": LogRecord})
AlertRecord = record_type(Alert, required=("uid", "hlc"),
                          enums={"severity": ALERT_SEVERITIES, "status": ALERT_STATUSES})
NotificationRecord = record_type(Notification, required=("uid", "hlc"))
RECORD_TYPES: dict[str, type[Struct]] = {"execution": ExecutionRecord, "alert": AlertRecord,
                                         "notification": NotificationRecord}

# The columns of each record type, in the order its astuple gives them (children left out).
EXECUTION_COLUMNS = columns_of(ExecutionRecord)
STEP_COLUMNS = columns_of(StepRecord)
LOG_COLUMNS = columns_of(LogRecord)


@dataclass(frozen=True)
class Rejected:
    seq: int
    kind: str
    uid: str
    reason: str


Item = tuple[int, Any]  # (seq, record): a record of RECORD_TYPES


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def latest_by_uid(items: Iterable[Item]) -> list[Item]:
    """One item per uid: the one with the highest seq (the station's latest version)."""
    latest: dict[str, Item] = {}
    for seq, record in items:
        if record.uid not in latest or latest[record.uid][0] < seq:
            latest[record.uid] = (seq, record)
    return sorted(latest.values(), key=lambda item: item[0])


def _checked(station: str, kind: str, items: list[Item]) \
        -> tuple[list[Any], dict[str, int], list[Rejected]]:
    """The latest version of each record, its times finished and its station the sender;
    (records, seq of each uid, rejected)."""
    records: list[Any] = []
    seqs: dict[str, int] = {}
    rejected: list[Rejected] = []
    for seq, record in latest_by_uid(items):
        where = f"{kind} {record.uid}"
        try:
            finish(record, where)
            if record.station_id != station:
                raise RecordError(f"{where}.station_id: {record.station_id!r} is not the "
                                  f"sending station {station!r}")
        except RecordError as exc:
            rejected.append(Rejected(seq, kind, record.uid, str(exc)))
            continue
        records.append(record)
        seqs[record.uid] = seq
    return records, seqs, rejected


def _updatable(model: type[Model], keep: Iterable[str] = ("id", "uid")) -> list[str]:
    skip = set(keep)
    return [f.name for f in model._meta.sorted_fields if f.name not in skip]


def _owner_conflicts(model: Any, uids: list[str], station: str) -> set[str]:
    """Of ``uids``, those stored for another station (a forged record)."""
    taken: set[str] = set()
    for part in chunks(uids):
        taken.update(uid for uid, owner in model.select(model.uid, model.station_id)
                     .where(model.uid.in_(list(part))).tuples()
                     if owner not in ("", station))
    return taken


@dataclass
class _Known:
    """What the upsert of a batch's executions needs from the database."""

    processes: dict[str, int]  # process uid -> id
    actions: dict[str, int]  # action uid -> id
    stored: set[str]  # the uids of executions already stored
    ids: list[int]  # fresh execution ids (PostgreSQL), one per record


def _look_up(records: list[Any]) -> _Known:
    """One query on PostgreSQL (each round trip to the server costs both sides as much as a
    dozen rows), plain queries elsewhere (nothing is stored beforehand, no ids are taken)."""
    process_uids = sorted({r.process_uid for r in records} - {""})
    action_uids = sorted({s.action_uid for r in records for s in r.steps} - {""})
    if not copies():
        return _Known(ids_by_uid(Process, process_uids), ids_by_uid(ProcessAction, action_uids),
                      set(), [])
    known = _Known({}, {}, set(), [])
    rows = run_sql(
        'SELECT 0, "uid", "id" FROM "processes" WHERE "uid" = ANY(?) '
        'UNION ALL SELECT 1, "uid", "id" FROM "process_actions" WHERE "uid" = ANY(?) '
        'UNION ALL SELECT 2, "uid", 0 FROM "process_executions" WHERE "uid" = ANY(?) '
        "UNION ALL SELECT 3, '', nextval(pg_get_serial_sequence('process_executions', 'id')) "
        "FROM generate_series(1, ?)",
        (process_uids, action_uids, [r.uid for r in records], len(records))).fetchall()
    for what, uid, pk in rows:
        if what == 0:
            known.processes[uid] = pk
        elif what == 1:
            known.actions[uid] = pk
        elif what == 2:
            known.stored.add(uid)
        else:
            known.ids.append(pk)
    return known


def upsert_executions(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    """Store executions with their steps and logs; (rows written, rejected records).

    On PostgreSQL, executions central has not stored yet (all of them, usually) are copied in
    with ids taken from their sequence, and so are their steps and log lines; the others are
    upserted. (A concurrent insert of the same uid fails the copy, and the caller retries
    record by record: the upsert then sorts it out.)
    """
    records, seqs, rejected = _checked(station, "execution", items)
    if not records:
        return 0, rejected
    known = _look_up(records)
    written: dict[str, int] = {}  # uid -> id
    fresh: dict[str, int] = {}  # inserted now: nothing of theirs is stored yet
    existing = records
    if copies():
        new = [r for r in records if r.uid not in known.stored]
        existing = [r for r in records if r.uid in known.stored]
        fresh = {r.uid: pk for pk, r in zip(known.ids, new, strict=False)}
        width = len(EXECUTION_COLUMNS)
        copy_rows(ProcessExecution, ("id", "process_id", *EXECUTION_COLUMNS),
                  ((fresh[r.uid], known.processes.get(r.process_uid, 0), *astuple(r)[:width])
                   for r in new))
        written.update(fresh)
    update = _updatable(ProcessExecution)
    for part in chunks(existing):
        rows = [{**row_of(r), "process_id": known.processes.get(r.process_uid, 0)}
                for r in part]
        for pk, uid in insert_rows(
                ProcessExecution, rows, conflict="uid", update=update,
                where='table."station_id" = EXCLUDED."station_id" AND '
                      '(table."updated_at" <= EXCLUDED."updated_at" '
                      'OR table."status" = \'queued\')',
                returning=("id", "uid")):
            written[uid] = pk
    skipped = [r.uid for r in existing if r.uid not in written]
    for uid in _owner_conflicts(ProcessExecution, skipped, station) if skipped else ():
        rejected.append(Rejected(seqs[uid], "execution", uid,
                                 f"execution {uid}: belongs to another station"))
    _write_children(written, fresh, {r.uid: r for r in records}, known.actions)
    return len(written), rejected


def _write_children(written: dict[str, int], fresh: dict[str, int],
                    records: dict[str, Any], actions: dict[str, int]) -> None:
    """Steps and log lines of the executions written: those of ``fresh`` executions are
    copied in, the others upserted. A record repeating a step's uid or a line's seq: the
    last given counts."""
    new_steps: dict[str, tuple[int, Any]] = {}
    steps: dict[str, tuple[int, Any]] = {}
    new_logs: dict[tuple[int, int], tuple[int, Any]] = {}
    logs: dict[tuple[int, int], tuple[int, Any]] = {}
    for uid, execution_id in written.items():
        record = records[uid]
        into_steps, into_logs = (new_steps, new_logs) if uid in fresh else (steps, logs)
        for step in record.steps:
            into_steps[step.uid] = (execution_id, step)
        for line in record.logs:
            into_logs[(execution_id, line.seq)] = (execution_id, line)
    with parents_just_inserted():
        copy_rows(ProcessExecutionStep, ("execution", "action_id", *STEP_COLUMNS),
                  ((eid, actions.get(s.action_uid, 0), *astuple(s))
                   for eid, s in new_steps.values()))
        copy_rows(ProcessExecutionLog, ("execution", *LOG_COLUMNS),
                  ((eid, *astuple(g)) for eid, g in new_logs.values()))
    update = _updatable(ProcessExecutionStep)
    step_rows = [{**row_of(s), "execution": eid, "action_id": actions.get(s.action_uid, 0)}
                 for eid, s in steps.values()]
    for part in chunks(step_rows):
        insert_rows(ProcessExecutionStep, part, conflict="uid", update=update,
                    where='table."execution_id" = EXCLUDED."execution_id"')
    log_rows = [{**row_of(g), "execution": eid} for eid, g in logs.values()]
    for part in chunks(log_rows, 800):
        insert_rows(ProcessExecutionLog, part, conflict="")


def _upsert_by_hlc(model: Any, kind: str, station: str, items: list[Item]) \
        -> tuple[int, list[Rejected]]:
    records, seqs, rejected = _checked(station, kind, items)
    if not records:
        return 0, rejected
    stored: dict[str, tuple[str, str]] = {}
    for part in chunks([r.uid for r in records]):
        stored.update((uid, (owner, hlc)) for uid, owner, hlc in model.select(
            model.uid, model.station_id, model.hlc).where(model.uid.in_(list(part))).tuples())
    fresh = []
    for record in records:
        owner, hlc = stored.get(record.uid, (station, ""))
        if owner not in ("", station):
            rejected.append(Rejected(seqs[record.uid], kind, record.uid,
                                     f"{kind} {record.uid}: belongs to another station"))
        elif newer(record.hlc, hlc):
            fresh.append(row_of(record))
    for part in chunks(fresh):
        insert_rows(model, part, conflict="uid", update=_updatable(model))
    return len(fresh), rejected


def upsert_alerts(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    return _upsert_by_hlc(Alert, "alert", station, items)


def upsert_notifications(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    return _upsert_by_hlc(Notification, "notification", station, items)
