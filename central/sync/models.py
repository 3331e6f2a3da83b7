"""The sync's own tables at central (created by central/migrations/0003_sync.py; later
columns by later migrations, named at the column).

- ``sync_stations``: every station central has heard of, with its last status and heartbeat
  and the versions its last hello reported;
- ``sync_watermarks``: per station and incarnation, the highest seq up to which every record
  is committed (``upto``) and the ranges received beyond it (batches that overtook others);
- ``sync_changes``: the feed's change log: one row per fleet-owned record, moved to a new
  ``seq`` each time the record changes; ``stations`` is every station the record was ever
  assigned to (so a station it was taken from receives a tombstone);
- ``sync_dead_letters``: messages and records that were not acted upon, with the reason.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    IntegerField,
    TextField,
)

from agent.core.models import BaseModel, JSONField, utcnow


class SyncStation(BaseModel):
    id = AutoField()
    station_id = CharField(unique=True)
    online = BooleanField(default=False)
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(null=True)  # any message from the station
    status_at = DateTimeField(null=True)  # its last status (online/offline) message
    last_sync = DateTimeField(null=True)  # the last batch central committed from it
    heartbeat_at = DateTimeField(null=True)
    heartbeat = JSONField(null=True)  # the last heartbeat as sent
    outbox_depth = BigIntegerField(null=True)
    radio = JSONField(null=True)
    airtime_used = TextField(null=True)  # as reported (JSON text of a number or a map)
    incarnation = CharField(default="")
    feed_watermark = BigIntegerField(default=0)
    records_ingested = BigIntegerField(default=0)
    dead_letters = BigIntegerField(default=0)
    # From its last hello (migration 0005): the agent's software version (None: not reported,
    # protocol 1.0) and the protocol minor version it speaks (None: no hello yet).
    agent_version = CharField(null=True)
    protocol_minor = IntegerField(null=True)

    class Meta:
        table_name = "sync_stations"


class SyncWatermark(BaseModel):
    id = AutoField()
    station_id = CharField()
    incarnation = CharField()
    upto = BigIntegerField(default=0)
    ranges = JSONField(default=list)  # [[lo, hi], ...] received beyond upto, sorted
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sync_watermarks"
        indexes = ((("station_id", "incarnation"), True),)


class SyncChange(BaseModel):
    id = AutoField()
    seq = BigIntegerField(unique=True)
    kind = CharField()  # process, template, zone, user, group, bot
    uid = CharField()
    hlc = CharField(default="")
    deleted = BooleanField(default=False)
    stations = JSONField(default=list)  # processes: every station ever assigned ("*" too)
    fingerprint = TextField(default="")  # what the record looked like when logged
    at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sync_changes"
        indexes = ((("kind", "uid"), True),)


class SyncDeadLetter(BaseModel):
    id = AutoField()
    received_at = DateTimeField(default=utcnow, index=True)
    station_id = CharField(default="")  # from the topic ("" when the topic had none)
    topic = TextField()
    reason = TextField()
    payload = BlobField(null=True)  # the first 4 KiB, for diagnosis

    class Meta:
        table_name = "sync_dead_letters"


SYNC_MODELS: tuple[type[BaseModel], ...] = (SyncStation, SyncWatermark, SyncChange,
                                            SyncDeadLetter)
