"""Execution counts kept by database triggers, so analytics never scan all executions.

Two small tables (central/models.py) hold, for the executions in ``process_executions``:

- ``execution_rollup_hourly``: per hour of ``started_at``, trigger type and status;
- ``execution_rollup_process``: per process and status;

each the number of executions, the sum of ``execution_time_ms`` and how many had one. A change
of status moves one execution from the old row to the new one. Totals of the execution list
and the analytics read these tables (a few thousand rows) instead of a million executions.

They are kept in the transaction of every change, whoever makes it (the sync's ingest, the
central engine, a manual run):

- SQLite (one writer at a time): row triggers upsert both rollups directly (version 1);
- PostgreSQL (version 2): statement triggers with transition tables append one delta row per
  (hour, trigger type, status, process) and statement to ``execution_rollup_changes``; nothing
  shared is locked, so concurrent ingest workers do not queue behind each other on the hot
  rollup rows. ``fold()`` moves the deltas into the rollups (DELETE ... RETURNING: each delta is
  folded exactly once, whoever folds); readers fold before they read, and ``serve`` folds every
  couple of seconds so the change log stays short.

Bulk loads (the benchmark, an import) may drop the triggers, insert, then ``rebuild``:
``with bulk_load(db): ...``. The SQL is versioned: migrations call the version they were
written with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import Database, PostgresqlDatabase

from agent.core.models import database

_SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {row}.started_at)"
_PG_HOUR = "date_trunc('hour', {row}.started_at)"


def _sql(db: Any, sql: str) -> None:
    db.execute_sql(sql)


def _is_postgres(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


def _upserts(row: str, sign: str, hour: str, alias: str) -> list[str]:
    """The two upserts adding (sign '+') or removing (sign '-') one execution ``row``."""
    values = (f"{sign}1, {sign}COALESCE({row}.execution_time_ms, 0), "
              f"{sign}(CASE WHEN {row}.execution_time_ms IS NULL THEN 0 ELSE 1 END)")
    update = (f"executions = {alias}executions + excluded.executions, "
              f"time_ms_sum = {alias}time_ms_sum + excluded.time_ms_sum, "
              f"time_count = {alias}time_count + excluded.time_count")
    into_h = "execution_rollup_hourly" + (" AS r" if alias else "")
    into_p = "execution_rollup_process" + (" AS r" if alias else "")
    return [
        f"INSERT INTO {into_h} (hour, trigger_type, status, executions, time_ms_sum, "
        f"time_count) VALUES ({hour.format(row=row)}, COALESCE({row}.trigger_type, ''), "
        f"{row}.status, {values}) ON CONFLICT (hour, trigger_type, status) DO UPDATE SET "
        f"{update}",
        f"INSERT INTO {into_p} (process_id, status, executions, time_ms_sum, time_count) "
        f"VALUES ({row}.process_id, {row}.status, {values}) "
        f"ON CONFLICT (process_id, status) DO UPDATE SET {update}",
    ]


_CHANGED = ("status", "execution_time_ms", "started_at", "trigger_type", "process_id")


def _sqlite_triggers_v1() -> list[str]:
    add = _upserts("NEW", "", _SQLITE_HOUR, "")
    remove = _upserts("OLD", "-", _SQLITE_HOUR, "")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _CHANGED)
    return [
        "CREATE TRIGGER IF NOT EXISTS central_rollup_insert AFTER INSERT ON process_executions "
        "BEGIN " + "; ".join(add) + "; END",
        "CREATE TRIGGER IF NOT EXISTS central_rollup_delete AFTER DELETE ON process_executions "
        "BEGIN " + "; ".join(remove) + "; END",
        f"CREATE TRIGGER IF NOT EXISTS central_rollup_update AFTER UPDATE ON process_executions "
        f"WHEN {changed} BEGIN " + "; ".join(remove + add) + "; END",
    ]


def _postgres_triggers_v1() -> list[str]:
    add = _upserts("NEW", "", _PG_HOUR, "r.")
    remove = _upserts("OLD", "-", _PG_HOUR, "r.")
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _CHANGED)
    function = (
        "CREATE OR REPLACE FUNCTION central_rollup_execution() RETURNS trigger AS $$ BEGIN "
        "IF TG_OP IN ('UPDATE', 'DELETE') THEN " + "; ".join(remove) + "; END IF; "
        "IF TG_OP IN ('INSERT', 'UPDATE') THEN " + "; ".join(add) + "; END IF; "
        "RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    return [
        function,
        "DROP TRIGGER IF EXISTS central_rollup_insert_delete ON process_executions",
        "DROP TRIGGER IF EXISTS central_rollup_update ON process_executions",
        "CREATE TRIGGER central_rollup_insert_delete AFTER INSERT OR DELETE ON "
        "process_executions FOR EACH ROW EXECUTE FUNCTION central_rollup_execution()",
        f"CREATE TRIGGER central_rollup_update AFTER UPDATE ON process_executions FOR EACH ROW "
        f"WHEN ({changed}) EXECUTE FUNCTION central_rollup_execution()",
    ]


def install_triggers_v1(db: Database) -> None:
    for sql in _postgres_triggers_v1() if _is_postgres(db) else _sqlite_triggers_v1():
        _sql(db, sql)


_V2_FUNCTION = """CREATE OR REPLACE FUNCTION central_rollup_changes() RETURNS trigger AS $$ BEGIN
IF TG_OP = 'INSERT' THEN
  INSERT INTO execution_rollup_changes ({cols})
  SELECT {plus} FROM new_rows n GROUP BY 1, 2, 3, 4;
ELSIF TG_OP = 'DELETE' THEN
  INSERT INTO execution_rollup_changes ({cols})
  SELECT {minus} FROM old_rows o GROUP BY 1, 2, 3, 4;
ELSE
  INSERT INTO execution_rollup_changes ({cols})
  SELECT hour, trigger_type, status, process_id, SUM(executions), SUM(time_ms_sum),
         SUM(time_count)
  FROM (SELECT {minus_row} FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}
        UNION ALL
        SELECT {plus_row} FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}) d
  GROUP BY 1, 2, 3, 4;
END IF;
RETURN NULL; END $$ LANGUAGE plpgsql"""
_V2_COLS = "hour, trigger_type, status, process_id, executions, time_ms_sum, time_count"


def _v2_select(row: str, sign: str, grouped: bool) -> str:
    """The delta columns of ``row`` (n: new, o: old); ``grouped``: summed per group."""
    keys = (f"date_trunc('hour', {row}.started_at) AS hour, "
            f"COALESCE({row}.trigger_type, '') AS trigger_type, {row}.status AS status, "
            f"{row}.process_id AS process_id")
    if grouped:
        return (f"{keys}, {sign}COUNT(*), {sign}COALESCE(SUM({row}.execution_time_ms), 0), "
                f"{sign}COUNT({row}.execution_time_ms)")
    return (f"{keys}, {sign}1 AS executions, "
            f"{sign}COALESCE({row}.execution_time_ms, 0) AS time_ms_sum, "
            f"{sign}(CASE WHEN {row}.execution_time_ms IS NULL THEN 0 ELSE 1 END) "
            f"AS time_count")


def _postgres_triggers_v2() -> list[str]:
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in _CHANGED)
    function = _V2_FUNCTION.format(
        cols=_V2_COLS, plus=_v2_select("n", "", True), minus=_v2_select("o", "-", True),
        plus_row=_v2_select("n", "", False), minus_row=_v2_select("o", "-", False),
        changed=changed)
    return [
        function,
        "CREATE TRIGGER central_rollup_changes_insert AFTER INSERT ON process_executions "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION central_rollup_changes()",
        "CREATE TRIGGER central_rollup_changes_update AFTER UPDATE ON process_executions "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION central_rollup_changes()",
        "CREATE TRIGGER central_rollup_changes_delete AFTER DELETE ON process_executions "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION central_rollup_changes()",
    ]


def install_triggers_v2(db: Database) -> None:
    """PostgreSQL: statement triggers appending deltas (see the module's docstring);
    SQLite keeps version 1."""
    drop_triggers(db)
    for sql in _postgres_triggers_v2() if _is_postgres(db) else _sqlite_triggers_v1():
        _sql(db, sql)


def drop_triggers(db: Database) -> None:
    """Drop the rollup triggers of every version (bulk loads; benchmarks' diagnoses)."""
    if _is_postgres(db):
        for name in ("central_rollup_insert_delete", "central_rollup_update",
                     "central_rollup_changes_insert", "central_rollup_changes_update",
                     "central_rollup_changes_delete"):
            _sql(db, f"DROP TRIGGER IF EXISTS {name} ON process_executions")
        return
    for name in ("central_rollup_insert", "central_rollup_delete", "central_rollup_update"):
        _sql(db, f"DROP TRIGGER IF EXISTS {name}")


drop_triggers_v1 = drop_triggers  # the name bench/bench_sync.py uses


_FOLD = """WITH moved AS (DELETE FROM execution_rollup_changes RETURNING *),
hourly AS (
  INSERT INTO execution_rollup_hourly AS r (hour, trigger_type, status, executions,
                                            time_ms_sum, time_count)
  SELECT hour, trigger_type, status, SUM(executions), SUM(time_ms_sum), SUM(time_count)
  FROM moved GROUP BY 1, 2, 3
  ON CONFLICT (hour, trigger_type, status) DO UPDATE SET
    executions = r.executions + EXCLUDED.executions,
    time_ms_sum = r.time_ms_sum + EXCLUDED.time_ms_sum,
    time_count = r.time_count + EXCLUDED.time_count
  RETURNING 1)
INSERT INTO execution_rollup_process AS r (process_id, status, executions, time_ms_sum,
                                           time_count)
SELECT process_id, status, SUM(executions), SUM(time_ms_sum), SUM(time_count)
FROM moved GROUP BY 1, 2
ON CONFLICT (process_id, status) DO UPDATE SET
  executions = r.executions + EXCLUDED.executions,
  time_ms_sum = r.time_ms_sum + EXCLUDED.time_ms_sum,
  time_count = r.time_count + EXCLUDED.time_count"""


def fold(db: Database | None = None) -> None:
    """Move pending deltas into the rollups (PostgreSQL; nothing to do on SQLite)."""
    db = db if db is not None else database.obj
    if _is_postgres(db):
        with db.atomic():
            _sql(db, _FOLD)


def rebuild(db: Database) -> None:
    """Recompute both rollup tables from all executions (one transaction)."""
    hour = (_PG_HOUR if _is_postgres(db) else _SQLITE_HOUR).format(row="e")
    sums = "COUNT(*), COALESCE(SUM(e.execution_time_ms), 0), COUNT(e.execution_time_ms)"
    with db.atomic():
        _sql(db, "DELETE FROM execution_rollup_hourly")
        _sql(db, "DELETE FROM execution_rollup_process")
        if _is_postgres(db) and db.table_exists("execution_rollup_changes"):  # from 0004
            _sql(db, "DELETE FROM execution_rollup_changes")
        _sql(db,
            "INSERT INTO execution_rollup_hourly (hour, trigger_type, status, executions, "
            f"time_ms_sum, time_count) SELECT {hour}, COALESCE(e.trigger_type, ''), e.status, "
            f"{sums} FROM process_executions e GROUP BY 1, 2, 3")
        _sql(db,
            "INSERT INTO execution_rollup_process (process_id, status, executions, "
            f"time_ms_sum, time_count) SELECT e.process_id, e.status, {sums} "
            "FROM process_executions e GROUP BY 1, 2")


@contextmanager
def bulk_load(db: Database) -> Iterator[None]:
    """Insert many executions without the per-row triggers, then rebuild the rollups."""
    drop_triggers(db)
    try:
        yield
    finally:
        rebuild(db)
        install_triggers_v2(db)
