"""Pruning finished executions by age and count, so a station's SD card does not fill up."""

from __future__ import annotations

import datetime as dt

from peewee import SqliteDatabase

from agent.core.models import FINISHED_STATUSES, ProcessExecution, database, utcnow

BATCH = 500


def prune(days: int, max_executions: int, now: dt.datetime | None = None) -> int:
    """Delete finished executions older than ``days`` or beyond the newest ``max_executions``.

    Steps and logs go with them (ON DELETE CASCADE). Their outbox copies are untouched, so
    pruning never loses what central has not received yet. Returns the number deleted.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    finished = ProcessExecution.status.in_(tuple(FINISHED_STATUSES))
    keep_from = (ProcessExecution.select(ProcessExecution.id).where(finished)
                 .order_by(ProcessExecution.id.desc()).offset(max_executions).limit(1).scalar())
    condition = finished & (ProcessExecution.started_at < cutoff)
    if keep_from is not None:
        condition = finished & ((ProcessExecution.started_at < cutoff)
                                | (ProcessExecution.id <= keep_from))
    deleted = 0
    while True:
        with database.atomic():
            ids = [e.id for e in ProcessExecution.select(ProcessExecution.id)
                   .where(condition).limit(BATCH)]
            if not ids:
                break
            deleted += ProcessExecution.delete().where(ProcessExecution.id.in_(ids)).execute()
    if deleted and isinstance(database.obj, SqliteDatabase):
        # executescript: sqlite3's execute() stops a PRAGMA after its first step (one page).
        # Safe here: prune runs between transactions on the engine thread.
        database.connection().executescript("PRAGMA incremental_vacuum(1000);")
    return deleted
