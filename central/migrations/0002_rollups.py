"""Execution rollups kept by triggers, and the index behind per-process failure reasons."""

from central.rollups import install_triggers_v1, rebuild


def up(migrator, db):
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS process_executions_process_status "
        "ON process_executions (process_id, status, started_at)"
    )
    install_triggers_v1(db)
    rebuild(db)
