"""sync_stations: the agent version and protocol minor version of each station's last hello."""

from peewee import CharField, IntegerField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("sync_stations", "agent_version", CharField(null=True)),
        migrator.add_column("sync_stations", "protocol_minor", IntegerField(null=True)),
    )
