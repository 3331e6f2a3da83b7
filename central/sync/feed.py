"""The definition feed: fleet-owned records down to the stations by "changes since watermark".

``sync_changes`` holds one row per fleet-owned record (process, template, zone, user, group,
bot); each change moves the row to a new, higher ``seq`` (assigned under a lock, so seq
order is commit order). A station asks for the changes after its watermark and gets the
current version of each changed record, in seq order, in pages: every record that is not a
process, and every process whose assignment includes it now or did before (then as a
tombstone, so it stops running there). A station never receives a process assigned only to
others.

Changes are noted when central's API says so (``ctx.changed`` -> the sync worker), when a
station's edit wins a merge (in the ingest's transaction), and by ``reconcile``, which
compares every record with the log (at start and periodically), so an edit is fed even if
central stopped between its commit and the hook.
"""

from __future__ import annotations

import json
from typing import Any

from peewee import Model, PostgresqlDatabase, SqliteDatabase, fn

from agent.core.codec import encode
from agent.core.ids import HybridClock
from agent.core.models import Process, ProcessTemplate, database, utcnow
from agent.core.module_models import FLEET_MODELS
from agent.modules.fleet import record_of
from agent.processes import runs_on
from agent.sync.records import process_record, template_record
from central.sync.models import SyncChange
from central.sync.rows import tuples

FEED_MODELS: dict[str, Any] = {"process": Process, "template": ProcessTemplate,
                               **FLEET_MODELS}
PAGE_RECORDS = 100
PAGE_BYTES = 256 * 1024
LOCK_KEY = 0x5F1EEDF1  # pg_advisory_xact_lock key of the change log


def write_transaction() -> Any:
    """A write transaction that takes SQLite's write lock at once (no upgrade deadlock)."""
    db = database.obj
    if isinstance(db, SqliteDatabase) and not db.in_transaction():
        return db.atomic("IMMEDIATE")
    return database.atomic()


def _lock_log() -> None:
    if isinstance(database.obj, PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))


def fingerprint(kind: str, row: Model) -> tuple[str, bool, list[str], str]:
    """(hlc, deleted, stations, fingerprint) of a record as it is now."""
    hlc, deleted = str(getattr(row, "hlc", "") or ""), bool(getattr(row, "deleted", False))
    if kind == "process":
        stations = list(row.stations or [])  # type: ignore[attr-defined]
        extra = f"{row.version}|{json.dumps(stations)}"  # type: ignore[attr-defined]
    else:
        stations = ["*"]
        extra = str(getattr(row, "updated_at", ""))
    return hlc, deleted, stations, f"{hlc}|{deleted}|{extra}"


def note_change(kind: str, uid: str, clock: HybridClock) -> bool:
    """Log the record's current state if it changed; True when a new seq was assigned."""
    model = FEED_MODELS[kind]
    with write_transaction():
        _lock_log()
        row = model.get_or_none(model.uid == uid)
        log = SyncChange.get_or_none((SyncChange.kind == kind) & (SyncChange.uid == uid))
        if row is None:
            if log is None or log.deleted:
                return False
            hlc, deleted, stations, print_ = clock.now(), True, list(log.stations), "gone"
        else:
            hlc, deleted, stations, print_ = fingerprint(kind, row)
            if log is not None and log.fingerprint == print_:
                return False
        if log is not None:
            stations = sorted(set(stations) | set(log.stations or []))
        seq = int(SyncChange.select(fn.MAX(SyncChange.seq)).scalar() or 0) + 1
        values = {"seq": seq, "hlc": hlc, "deleted": deleted, "stations": stations,
                  "fingerprint": print_, "at": utcnow()}
        if log is None:
            SyncChange.create(kind=kind, uid=uid, **values)
        else:
            SyncChange.update(**values).where(SyncChange.id == log.id).execute()
        return True


def reconcile(clock: HybridClock) -> int:
    """Note every record whose state differs from the log (and records that vanished)."""
    noted = 0
    for kind, model in FEED_MODELS.items():
        logged = {uid: print_ for uid, print_ in tuples(SyncChange.select(
            SyncChange.uid, SyncChange.fingerprint).where(SyncChange.kind == kind))}
        seen: set[str] = set()
        for row in model.select():
            seen.add(row.uid)
            if logged.get(row.uid) != fingerprint(kind, row)[3]:
                noted += note_change(kind, row.uid, clock)
        for uid, print_ in logged.items():
            if uid not in seen and print_ != "gone":
                noted += note_change(kind, uid, clock)
    return noted


def latest_seq() -> int:
    return int(SyncChange.select(fn.MAX(SyncChange.seq)).scalar() or 0)


def for_station(change: SyncChange, station: str) -> bool:
    return change.kind != "process" or runs_on(change.stations, station)


def feed_record(change: SyncChange, station: str) -> dict[str, Any]:
    """The change as the station receives it: the record now, or a tombstone."""
    model = FEED_MODELS[change.kind]
    row = None if change.fingerprint == "gone" else model.get_or_none(model.uid == change.uid)
    tombstone = {"kind": change.kind, "uid": change.uid, "hlc": change.hlc, "deleted": True,
                 "record": None}
    if row is None:
        return tombstone
    hlc, deleted, stations, _ = fingerprint(change.kind, row)
    if change.kind == "process":
        if deleted or not runs_on(stations, station):
            return {**tombstone, "hlc": hlc}
        record = process_record(row)
    elif change.kind == "template":
        record = template_record(row)
    else:
        record = record_of(row)
    return {"kind": change.kind, "uid": change.uid, "hlc": hlc, "deleted": deleted,
            "record": record}


def changes_for(station: str, since: int, limit: int = PAGE_RECORDS) \
        -> tuple[list[dict[str, Any]], int, bool]:
    """(records, new watermark, more) for ``station`` after watermark ``since``."""
    records: list[dict[str, Any]] = []
    upto, size = since, 0
    while len(records) < limit and size < PAGE_BYTES:
        page = list(SyncChange.select().where(SyncChange.seq > upto)
                    .order_by(SyncChange.seq).limit(limit * 4))
        if not page:
            return records, upto, False
        for change in page:
            if len(records) >= limit or size >= PAGE_BYTES:
                break
            upto = change.seq
            if for_station(change, station):
                record = feed_record(change, station)
                size += len(encode("record", record))
                records.append(record)
    more = SyncChange.select().where(SyncChange.seq > upto).exists()
    return records, upto, more
