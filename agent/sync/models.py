"""The sync client's own tables on the station (created by agent/sync/migrations/).

- ``sync_dead_letters``: messages from the broker that were not acted upon, with the reason;
- ``sync_commands``: commands from central already handled, so a replayed or re-delivered
  command is never carried out twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from peewee import AutoField, BlobField, CharField, DateTimeField, TextField

from agent.core.models import BaseModel, database, utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HISTORY_TABLE = "sync_schema_migration"


class SyncDeadLetter(BaseModel):
    id = AutoField()
    at = DateTimeField(default=utcnow, index=True)
    topic = TextField()
    reason = TextField()
    payload = BlobField(null=True)  # the first bytes, for diagnosis

    class Meta:
        table_name = "sync_dead_letters"


class SyncCommand(BaseModel):
    id = AutoField()
    uid = CharField(unique=True)
    kind = CharField()
    process_uid = CharField()
    status = CharField()  # done, failed, expired
    detail = TextField(null=True)
    received_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "sync_commands"


SYNC_MODELS: tuple[type[BaseModel], ...] = (SyncDeadLetter, SyncCommand)
KEEP_DAYS = 30


def prune(days: int = KEEP_DAYS) -> int:
    """Forget dead letters and handled commands older than ``days`` (engine thread).

    A command is never carried out after its expiry, so its uid need not be kept beyond it.
    """
    cutoff = utcnow() - dt.timedelta(days=days)
    with database.atomic():
        gone = SyncDeadLetter.delete().where(SyncDeadLetter.at < cutoff).execute()
        gone += SyncCommand.delete().where(SyncCommand.received_at < cutoff).execute()
    return int(gone)
