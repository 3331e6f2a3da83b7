"""The station sync client's tables (agent/sync/models.py)."""

from peewee import AutoField, BlobField, CharField, DateTimeField, Model, TextField


def up(migrator, db):
    class SyncDeadLetter(Model):
        id = AutoField()
        at = DateTimeField(index=True)
        topic = TextField()
        reason = TextField()
        payload = BlobField(null=True)

        class Meta:
            database = db
            table_name = "sync_dead_letters"

    class SyncCommand(Model):
        id = AutoField()
        uid = CharField(unique=True)
        kind = CharField()
        process_uid = CharField()
        status = CharField()
        detail = TextField(null=True)
        received_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "sync_commands"

    db.create_tables([SyncDeadLetter, SyncCommand])
