"""The MQTT sync's tables (central/sync/models.py)."""

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    Model,
    TextField,
)

from agent.core.models import JSONField


def up(migrator, db):
    class SyncStation(Model):
        id = AutoField()
        station_id = CharField(unique=True)
        online = BooleanField(default=False)
        first_seen = DateTimeField()
        last_seen = DateTimeField(null=True)
        status_at = DateTimeField(null=True)
        last_sync = DateTimeField(null=True)
        heartbeat_at = DateTimeField(null=True)
        heartbeat = JSONField(null=True)
        outbox_depth = BigIntegerField(null=True)
        radio = JSONField(null=True)
        airtime_used = TextField(null=True)
        incarnation = CharField(default="")
        feed_watermark = BigIntegerField(default=0)
        records_ingested = BigIntegerField(default=0)
        dead_letters = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "sync_stations"

    class SyncWatermark(Model):
        id = AutoField()
        station_id = CharField()
        incarnation = CharField()
        upto = BigIntegerField(default=0)
        ranges = JSONField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "sync_watermarks"
            indexes = ((("station_id", "incarnation"), True),)

    class SyncChange(Model):
        id = AutoField()
        seq = BigIntegerField(unique=True)
        kind = CharField()
        uid = CharField()
        hlc = CharField(default="")
        deleted = BooleanField(default=False)
        stations = JSONField()
        fingerprint = TextField(default="")
        at = DateTimeField()

        class Meta:
            database = db
            table_name = "sync_changes"
            indexes = ((("kind", "uid"), True),)

    class SyncDeadLetter(Model):
        id = AutoField()
        received_at = DateTimeField(index=True)
        station_id = CharField(default="")
        topic = TextField()
        reason = TextField()
        payload = BlobField(null=True)

        class Meta:
            database = db
            table_name = "sync_dead_letters"

    db.create_tables([SyncStation, SyncWatermark, SyncChange, SyncDeadLetter])
