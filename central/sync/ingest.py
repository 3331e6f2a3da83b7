"""Ingesting one batch of a station's outbox records, in one transaction.

1. Lock the station's watermark row for the batch's incarnation (PostgreSQL ``FOR UPDATE``;
   SQLite's write lock), so batches of one station are ingested one at a time even by several
   workers, while different stations proceed in parallel.
2. Drop records whose seq is already ingested (``upto`` or a received range): a re-sent or
   re-delivered batch changes nothing.
3. Decode each record (executions, alerts and notifications straight into their types, every
   value checked on the way: central/sync/rows.py); merge station edits of fleet-owned
   records first (so executions find their process), then upsert executions, alerts,
   notifications, command results by uid.
   A record that cannot be stored goes to ``sync_dead_letters`` with the reason; it still
   counts as received, so it never blocks the station's later records.
4. Add the batch's range ``[from, last]`` to the watermark, then commit. Only after the commit
   does the worker publish the acknowledgement (``upto``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec
from peewee import PostgresqlDatabase

from agent.core.codec import DecodeError, decode, decode_as
from agent.core.ids import HybridClock
from agent.core.models import database, utcnow
from agent.sync import protocol
from central.sync.bulk import full_row, insert_rows, run_sql
from central.sync.feed import write_transaction
from central.sync.merge import command_result, merge_fleet, merge_process
from central.sync.models import SyncDeadLetter, SyncStation, SyncWatermark
from central.sync.rows import RecordError, reason_of
from central.sync.upserts import (
    RECORD_TYPES,
    Item,
    Rejected,
    upsert_alerts,
    upsert_executions,
    upsert_notifications,
)

_LOG = logging.getLogger(__name__)

DEAD_PAYLOAD_BYTES = 4096


@dataclass
class BatchResult:
    station: str
    incarnation: str
    upto: int  # every seq up to this one is committed
    last: int  # the batch's last seq
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    changed: list[tuple[str, str]] = field(default_factory=list)  # fleet records merged


def merge_range(upto: int, ranges: list[list[int]], lo: int, hi: int) \
        -> tuple[int, list[list[int]]]:
    """Add seqs ``lo..hi`` to (``upto``, ``ranges``); return the new contiguous watermark and
    the ranges still beyond it (sorted, merged)."""
    spans = sorted([*[[int(a), int(b)] for a, b in ranges], [lo, hi]])
    rest: list[list[int]] = []
    for a, b in spans:
        if a <= upto + 1:
            upto = max(upto, b)
        elif rest and a <= rest[-1][1] + 1:
            rest[-1][1] = max(rest[-1][1], b)
        else:
            rest.append([a, b])
    while rest and rest[0][0] <= upto + 1:
        upto = max(upto, rest.pop(0)[1])
    return upto, rest


def received(seq: int, upto: int, ranges: list[list[int]]) -> bool:
    return seq <= upto or any(a <= seq <= b for a, b in ranges)


def ensure_station(station: str) -> None:
    insert_rows(SyncStation, [full_row(SyncStation, station_id=station, first_seen=utcnow())],
                conflict="station_id")


def lock_watermark(station: str, incarnation: str) -> tuple[int, int, list[list[int]]]:
    """The station's watermark row for ``incarnation``, made if new and locked until the
    transaction ends: (id, upto, ranges)."""
    insert_rows(SyncWatermark, [full_row(SyncWatermark, station_id=station,
                                         incarnation=incarnation, upto=0, ranges=[])],
                conflict="")
    lock = " FOR UPDATE" if isinstance(database.obj, PostgresqlDatabase) else ""
    pk, upto, ranges = run_sql('SELECT "id", "upto", "ranges" FROM "sync_watermarks" '
                               'WHERE "station_id" = ? AND "incarnation" = ?' + lock,
                               (station, incarnation)).fetchone()
    return int(pk), int(upto), SyncWatermark.ranges.python_value(ranges) or []


def watermark_of(station: str, incarnation: str) -> int:
    row = SyncWatermark.get_or_none((SyncWatermark.station_id == station)
                                    & (SyncWatermark.incarnation == incarnation))
    return int(row.upto) if row is not None else 0


def dead_letter(station: str, topic: str, reason: str, payload: bytes | None) -> None:
    SyncDeadLetter.create(station_id=station, topic=topic[:1000], reason=reason[:4000],
                          payload=payload[:DEAD_PAYLOAD_BYTES] if payload else None)
    if station:
        SyncStation.update(dead_letters=SyncStation.dead_letters + 1).where(
            SyncStation.station_id == station).execute()


def forget_dead_letters(days: int = 30) -> int:
    """Dead letters are kept ``days`` (the counts in sync_stations stay)."""
    cutoff = utcnow() - dt.timedelta(days=days)
    return int(SyncDeadLetter.delete().where(SyncDeadLetter.received_at < cutoff).execute())


def ingest_batch(station: str, body: dict[str, Any], topic: str, clock: HybridClock) \
        -> BatchResult:
    """Ingest one checked batch body from ``station`` (see the module's steps)."""
    records = body["records"]
    inc = body["inc"]
    last = records[-1]["seq"] if records else body["from"] - 1
    with write_transaction():
        ensure_station(station)
        mark, upto, ranges = lock_watermark(station, inc)
        result = BatchResult(station, inc, upto, last)
        fresh = [r for r in records if not received(r["seq"], result.upto, ranges)]
        result.duplicates = len(records) - len(fresh)
        by_kind: dict[str, list[Item]] = defaultdict(list)
        rejected: list[Rejected] = []
        for record in fresh:
            try:
                kind, value = _decode_record(record)
            except RecordError as exc:
                rejected.append(Rejected(record["seq"], record["kind"], record["uid"], str(exc)))
                continue
            if kind != record["kind"]:
                rejected.append(Rejected(record["seq"], record["kind"], record["uid"],
                                         f"payload of kind {kind!r} in a {record['kind']!r} "
                                         "record"))
                continue
            by_kind[kind].append((record["seq"], value))
        for kind in protocol.FLEET_KINDS:
            for seq, value in by_kind.pop(kind, []):
                try:
                    with database.atomic():
                        changed = _merge(station, kind, value, clock)
                except RecordError as exc:
                    rejected.append(Rejected(seq, kind, str(value.get("uid", "")), str(exc)))
                    continue
                if changed:
                    result.changed.append((kind, str(value["uid"])))
                result.stored += 1
        for kind, upsert in (("execution", upsert_executions), ("alert", upsert_alerts),
                             ("notification", upsert_notifications)):
            items = by_kind.pop(kind, [])
            if items:
                stored, bad = _upsert_isolated(station, items, upsert)
                result.stored += stored
                rejected += bad
        for seq, value in by_kind.pop("command", []):
            try:
                with database.atomic():
                    command_result(station, value)
                result.stored += 1
            except RecordError as exc:
                rejected.append(Rejected(seq, "command", str(value.get("uid", "")), str(exc)))
        for kind, items in by_kind.items():
            rejected += [Rejected(seq, kind, str(v.get("uid", "")),
                                  f"records of kind {kind!r} are not accepted")
                         for seq, v in items]
        for refused in rejected:
            dead_letter(station, topic, f"seq {refused.seq} {refused.kind} {refused.uid}: "
                                        f"{refused.reason}", None)
        result.rejected = len(rejected)
        upto, rest = merge_range(result.upto, ranges, body["from"], last)
        now = str(utcnow())
        run_sql('UPDATE "sync_watermarks" SET "upto" = ?, "ranges" = ?, "updated_at" = ? '
                'WHERE "id" = ?', (upto, SyncWatermark.ranges.db_value(rest), now, mark))
        run_sql('UPDATE "sync_stations" SET "last_sync" = ?, "last_seen" = ?, "incarnation" = ?, '
                '"records_ingested" = "records_ingested" + ? WHERE "station_id" = ?',
                (now, now, inc, len(fresh), station))
        result.upto = upto
    return result


def _decode_record(record: dict[str, Any]) -> tuple[str, Any]:
    """A record's (kind, value): of the kinds in RECORD_TYPES decoded into their type and
    checked on the way, of the others a map."""
    try:
        if record["kind"] in RECORD_TYPES:
            kind, value, _version = decode_as(record["payload"], RECORD_TYPES)
        else:
            kind, value, _version = decode(record["payload"])
    except msgspec.ValidationError as exc:
        raise RecordError(reason_of(exc, f"{record['kind']} {record['uid']}")) from None
    except DecodeError as exc:
        raise RecordError(str(exc)) from None
    return kind, value


def _merge(station: str, kind: str, value: dict[str, Any], clock: HybridClock) -> bool:
    if kind == "process":
        return merge_process(station, value, clock)
    if kind == "template":
        raise RecordError("templates are edited at central only")
    return merge_fleet(station, kind, value, clock)


def _upsert_isolated(station: str, items: list[Item], upsert: Any) -> tuple[int, list[Rejected]]:
    """Upsert all items at once; if the database refuses, one by one (finding the culprit)."""
    try:
        with database.atomic():
            stored, bad = upsert(station, items)
            return int(stored), list(bad)
    except Exception as exc:  # noqa: BLE001 - a refused row must not sink the whole batch
        _LOG.warning("ingest: batch upsert from %s refused (%s); retrying record by record",
                     station, exc)
    stored, rejected = 0, []
    for seq, value in items:
        try:
            with database.atomic():
                one, bad = upsert(station, [(seq, value)])
            stored += one
            rejected += bad
        except Exception as exc:  # noqa: BLE001 - this record is the culprit
            uid = str(value.get("uid", "")) if isinstance(value, dict) else ""
            rejected.append(Rejected(seq, "record", uid, f"database refused it: {exc}"[:500]))
    return stored, rejected
