"""PostgreSQL: rollups maintained by statement triggers through a change log (no hot-row locks
for concurrent ingest workers); SQLite keeps its row triggers. See central/rollups.py."""

from peewee import AutoField, BigIntegerField, CharField, DateTimeField, IntegerField, Model

from central.rollups import install_triggers_v2, rebuild


def up(migrator, db):
    class ExecutionRollupChange(Model):
        id = AutoField()
        hour = DateTimeField()
        trigger_type = CharField()
        status = CharField()
        process_id = IntegerField()
        executions = BigIntegerField(default=0)
        time_ms_sum = BigIntegerField(default=0)
        time_count = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "execution_rollup_changes"

    db.create_tables([ExecutionRollupChange])
    install_triggers_v2(db)
    rebuild(db)
