"""The station's side of the outbox: what is unsent, batches, and releasing acknowledged rows.

``Outbox.seq`` orders the station's records. Central acknowledges the highest seq up to
which it has committed everything (``upto``); the station then deletes those rows. Because
SQLite gives a new row ``max(seq) + 1``, deleting every row would let ``seq`` start again
at 1, which central would take for duplicates: the row at ``upto`` is therefore kept (its
payload emptied) as a high-water mark until a later acknowledgement passes it.

The ``incarnation`` (a UUID made with the station's sync state) names one run of sequence
numbers: a re-flashed SD card starts a new one, and central keeps a watermark per incarnation.

Writers (``load_state``, ``release``, ``queue_local_edits``) run on the engine thread;
readers (``read_batch``, ``depth``) may run on the sync thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import fn

from agent.core.codec import encode
from agent.core.ids import new_uid
from agent.core.models import KeyValue, Outbox, Process, database, utcnow
from agent.sync.protocol import MAX_BATCH_BYTES
from agent.sync.records import hlc_key, process_record

KEY_INCARNATION = "sync.incarnation"
KEY_ACKED = "sync.acked_upto"
KEY_FEED = "sync.feed_watermark"
KEY_LAST_SYNC = "sync.last_sync"
KEY_LOCAL_EDITS = "sync.local_edits_hlc"
KEY_FLOOR = "sync.incarnation_floor"


@dataclass
class SyncState:
    incarnation: str
    acked: int  # every seq up to this one is committed at central
    feed: int  # the changes from central applied up to this watermark
    last_sync: str | None  # when central last acknowledged something (ISO 8601)
    floor: int = 0  # seqs up to this one were never sent in this incarnation


def get_value(key: str, default: Any = None) -> Any:
    row = KeyValue.get_or_none(KeyValue.key == key)
    return default if row is None or row.value is None else row.value


def set_value(key: str, value: Any) -> None:
    KeyValue.insert(key=key, value=value).on_conflict(
        conflict_target=[KeyValue.key], update={KeyValue.value: value}).execute()


def max_seq() -> int:
    return int(Outbox.select(fn.MAX(Outbox.seq)).scalar() or 0)


def load_state() -> SyncState:
    """The sync state, created on first use (engine thread)."""
    with database.atomic():
        incarnation = get_value(KEY_INCARNATION)
        acked = int(get_value(KEY_ACKED, 0))
        if incarnation is None or acked > max_seq():
            # First start, or rows were removed behind our back: sequence numbers could be
            # reused, so begin a new incarnation (central keeps a watermark per incarnation).
            incarnation, acked = new_uid(), 0
            set_value(KEY_INCARNATION, incarnation)
            set_value(KEY_ACKED, 0)
            set_value(KEY_FLOOR, 0)
        return SyncState(incarnation=incarnation, acked=acked,
                         feed=int(get_value(KEY_FEED, 0)),
                         last_sync=get_value(KEY_LAST_SYNC),
                         floor=int(get_value(KEY_FLOOR, 0)))


def new_incarnation() -> SyncState:
    """Start a new run of sequence numbers from here (engine thread).

    For a station database restored from an old backup: central already holds seqs of this
    incarnation that the restored file never wrote, so the next records would be taken for
    duplicates. The unacknowledged rows are sent again under the new incarnation; the seqs up
    to the current watermark (the ``floor``) do not exist in it.
    """
    with database.atomic():
        acked = int(get_value(KEY_ACKED, 0))
        set_value(KEY_INCARNATION, new_uid())
        set_value(KEY_FLOOR, acked)
    return load_state()


def read_batch(after: int, max_records: int, max_bytes: int = MAX_BATCH_BYTES) \
        -> list[dict[str, Any]]:
    """The next records after seq ``after``, in order, within the size limits."""
    records: list[dict[str, Any]] = []
    size = 0
    query = (Outbox.select(Outbox.seq, Outbox.kind, Outbox.uid, Outbox.payload)
             .where(Outbox.seq > after).order_by(Outbox.seq).limit(max_records))
    rows: list[tuple[int, str, str, Any]] = list(query.tuples())  # type: ignore[arg-type]
    for row in rows:
        payload = bytes(row[3])
        if records and size + len(payload) > max_bytes:
            break
        records.append({"seq": row[0], "kind": row[1], "uid": row[2], "payload": payload})
        size += len(payload) + len(row[2]) + 16
    return records


def depth(acked: int) -> int:
    """Records not yet acknowledged by central."""
    return int(Outbox.select(fn.COUNT(Outbox.seq)).where(Outbox.seq > acked).scalar() or 0)


def release(incarnation: str, upto: int) -> int:
    """Central committed everything up to ``upto``: drop those rows (engine thread).

    Returns the new acknowledged watermark (never lower than before, never above what was
    written). An acknowledgement for another incarnation is ignored.
    """
    with database.atomic():
        if get_value(KEY_INCARNATION) != incarnation:
            return int(get_value(KEY_ACKED, 0))
        acked = int(get_value(KEY_ACKED, 0))
        upto = min(upto, max_seq())
        if upto <= acked:
            return acked
        Outbox.delete().where(Outbox.seq < upto).execute()
        Outbox.update(payload=b"", kind="_mark").where(Outbox.seq == upto).execute()
        set_value(KEY_ACKED, upto)
        set_value(KEY_LAST_SYNC, utcnow().isoformat())
        return upto


def set_feed_watermark(value: int) -> None:
    set_value(KEY_FEED, value)


def queue_local_edits(station_id: str) -> int:
    """Queue process definitions edited on this station since the last call (engine thread).

    Field admins edit definitions with ``firefly-agent process import`` (origin = this station,
    hlc from the station's clock), possibly while the agent is stopped; this finds every such
    edit by its hlc and writes it to the outbox in one transaction with the new mark.
    """
    with database.atomic():
        mark = get_value(KEY_LOCAL_EDITS, "")
        edited = [p for p in Process.select().where(Process.origin == station_id)
                  if hlc_key(p.hlc) > hlc_key(mark)]
        if not edited:
            return 0
        edited.sort(key=lambda p: hlc_key(p.hlc))
        for process in edited:
            Outbox.create(kind="process", uid=process.uid,
                          payload=encode("process", process_record(process)))
        set_value(KEY_LOCAL_EDITS, edited[-1].hlc)
        return len(edited)
