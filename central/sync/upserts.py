"""Idempotent bulk upserts of station-owned records: executions (with steps and logs), alerts,
notifications.

Keyed by uid; a stored row is replaced only by a newer version of the same station's record
(executions: ``updated_at``; alerts and notifications: ``hlc``), so re-delivered, re-sent or
overtaken batches never move a row backwards, and one station can never overwrite another's
row. Executions of processes central does not know are stored with ``process_id`` 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
from central.sync.bulk import copies, copy_rows, insert_rows, parents_just_inserted
from central.sync.rows import RecordError, RowSpec, tuples

T = TypeVar("T")
CHUNK = 400

EXECUTION_ROW = RowSpec(ProcessExecution, exclude=("id", "process_id", "resume_at"),
                        enums={"status": EXECUTION_STATUSES})
STEP_ROW = RowSpec(ProcessExecutionStep, exclude=("id", "execution", "action_id"),
                   enums={"status": STEP_STATUSES})
LOG_ROW = RowSpec(ProcessExecutionLog, exclude=("id", "execution"), required=("seq",))
ALERT_ROW = RowSpec(Alert, required=("uid", "hlc"),
                    enums={"severity": ALERT_SEVERITIES, "status": ALERT_STATUSES})
NOTIFICATION_ROW = RowSpec(Notification, required=("uid", "hlc"))


@dataclass(frozen=True)
class Rejected:
    seq: int
    kind: str
    uid: str
    reason: str


Item = tuple[int, dict[str, Any]]  # (seq, record)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def latest_by_uid(items: Iterable[Item]) -> list[Item]:
    """One item per uid: the one with the highest seq (the station's latest version)."""
    latest: dict[str, Item] = {}
    for seq, record in items:
        uid = record.get("uid") if isinstance(record, dict) else None
        key = uid if isinstance(uid, str) else f"#{seq}"
        if key not in latest or latest[key][0] < seq:
            latest[key] = (seq, record)
    return sorted(latest.values(), key=lambda item: item[0])


def _own(station: str, row: dict[str, Any], where: str) -> None:
    if row.get("station_id") != station:
        raise RecordError(f"{where}.station_id: {row.get('station_id')!r} is not the sending "
                          f"station {station!r}")


def process_ids(uids: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(uids) - {""})
    found: dict[str, int] = {}
    for part in chunks(wanted):
        found.update((uid, pk) for uid, pk in tuples(
            Process.select(Process.uid, Process.id).where(Process.uid.in_(list(part)))))
    return found


def action_ids(uids: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(uids) - {""})
    found: dict[str, int] = {}
    for part in chunks(wanted):
        found.update((uid, pk) for uid, pk in tuples(
            ProcessAction.select(ProcessAction.uid, ProcessAction.id)
            .where(ProcessAction.uid.in_(list(part)))))
    return found


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


def upsert_executions(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    """Store executions with their steps and logs; (rows written, rejected records)."""
    rejected: list[Rejected] = []
    rows: list[dict[str, Any]] = []
    children: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    seqs: dict[str, int] = {}
    for seq, record in latest_by_uid(items):
        uid = str(record.get("uid", "")) if isinstance(record, dict) else ""
        where = f"execution {uid or '?'}"
        try:
            row = EXECUTION_ROW(record, where)
            _own(station, row, where)
            steps_in, logs_in = record.get("steps") or [], record.get("logs") or []
            if not isinstance(steps_in, list) or not isinstance(logs_in, list):
                raise RecordError(f"{where}: steps and logs must be lists")
            steps = [STEP_ROW(s, f"{where}.steps[{i}]") for i, s in enumerate(steps_in)]
            logs = [LOG_ROW(g, f"{where}.logs[{i}]") for i, g in enumerate(logs_in)]
        except RecordError as exc:
            rejected.append(Rejected(seq, "execution", uid, str(exc)))
            continue
        rows.append(row)
        children[row["uid"]] = (steps, logs)
        seqs[row["uid"]] = seq
    if not rows:
        return 0, rejected
    known = process_ids(r["process_uid"] for r in rows)
    for row in rows:
        row["process_id"] = known.get(row["process_uid"], 0)
    written: dict[str, int] = {}
    fresh: set[str] = set()  # inserted now, not updated (known on PostgreSQL only)
    update = _updatable(ProcessExecution)
    for part in chunks(rows):
        for pk, uid, *inserted in insert_rows(
                ProcessExecution, part, conflict="uid", update=update,
                where='table."station_id" = EXCLUDED."station_id" AND '
                      '(table."updated_at" <= EXCLUDED."updated_at" '
                      'OR table."status" = \'queued\')',
                returning=("id", "uid"), inserted=copies()):
            written[uid] = pk
            if inserted and inserted[0]:
                fresh.add(uid)
    skipped = [r["uid"] for r in rows if r["uid"] not in written]
    for uid in _owner_conflicts(ProcessExecution, skipped, station) if skipped else ():
        rejected.append(Rejected(seqs[uid], "execution", uid,
                                 f"execution {uid}: belongs to another station"))
    _write_children(written, fresh, children)
    return len(written), rejected


def _write_children(written: dict[str, int], fresh: set[str],
                    children: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]) \
        -> None:
    """Steps and log lines of the executions written. Those of ``fresh`` executions (just
    inserted: nothing of theirs is stored yet) are copied in; the others are upserted."""
    steps: list[dict[str, Any]] = []
    new_steps: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    new_logs: list[dict[str, Any]] = []
    for uid, execution_id in written.items():
        own_steps, own_logs = children[uid]  # rows made for this upsert: completed in place
        for child in (*own_steps, *own_logs):
            child["execution"] = execution_id
        new = uid in fresh
        (new_steps if new else steps).extend(own_steps)
        (new_logs if new else logs).extend(own_logs)
    if steps or new_steps:
        actions = action_ids(s["action_uid"] for s in (*steps, *new_steps))
        for step in (*steps, *new_steps):
            step["action_id"] = actions.get(step["action_uid"], 0)
    with parents_just_inserted():
        copy_rows(ProcessExecutionStep, latest_steps(new_steps))
        copy_rows(ProcessExecutionLog, latest_logs(new_logs))
    update = _updatable(ProcessExecutionStep)
    for part in chunks(latest_steps(steps)):
        insert_rows(ProcessExecutionStep, part, conflict="uid", update=update,
                    where='table."execution_id" = EXCLUDED."execution_id"')
    for part in chunks(logs, 800):
        insert_rows(ProcessExecutionLog, part, conflict="")


def latest_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_uid = {s["uid"]: s for s in steps}
    return list(by_uid.values())


def latest_logs(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (execution, seq): the last given (a record repeating a seq)."""
    by_key = {(g["execution"], g["seq"]): g for g in logs}
    return list(by_key.values())


def _upsert_by_hlc(model: Any, kind: str, station: str, items: list[Item],
                   spec: RowSpec) -> tuple[int, list[Rejected]]:
    rejected: list[Rejected] = []
    rows: list[dict[str, Any]] = []
    seqs: dict[str, int] = {}
    for seq, record in latest_by_uid(items):
        uid = str(record.get("uid", "")) if isinstance(record, dict) else ""
        where = f"{kind} {uid or '?'}"
        try:
            row = spec(record, where)
            _own(station, row, where)
        except RecordError as exc:
            rejected.append(Rejected(seq, kind, uid, str(exc)))
            continue
        rows.append(row)
        seqs[row["uid"]] = seq
    if not rows:
        return 0, rejected
    stored: dict[str, tuple[str, str]] = {}
    for part in chunks([r["uid"] for r in rows]):
        stored.update((uid, (owner, hlc)) for uid, owner, hlc in model.select(
            model.uid, model.station_id, model.hlc).where(model.uid.in_(list(part))).tuples())
    fresh = []
    for row in rows:
        owner, hlc = stored.get(row["uid"], (station, ""))
        if owner not in ("", station):
            rejected.append(Rejected(seqs[row["uid"]], kind, row["uid"],
                                     f"{kind} {row['uid']}: belongs to another station"))
        elif newer(row["hlc"], hlc):
            fresh.append(row)
    for part in chunks(fresh):
        insert_rows(model, part, conflict="uid", update=_updatable(model))
    return len(fresh), rejected


def upsert_alerts(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    return _upsert_by_hlc(Alert, "alert", station, items, ALERT_ROW)


def upsert_notifications(station: str, items: list[Item]) -> tuple[int, list[Rejected]]:
    return _upsert_by_hlc(Notification, "notification", station, items, NOTIFICATION_ROW)
