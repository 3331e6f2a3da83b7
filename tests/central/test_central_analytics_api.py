"""Analytics: the fleet overview and per-process figures, kept exact by the rollups."""

from __future__ import annotations

import datetime as dt
import random

import psycopg2
import pytest

from agent.core.ids import new_uid
from agent.core.models import ProcessExecution, database, utcnow
from central.app import make_app
from central.context import CentralContext
from central.models import ExecutionRollupHourly, ExecutionRollupProcess
from central.rollups import bulk_load, fold, rebuild
from tests.central.central_support import (
    PG_URL,
    Central,
    definition,
    empty_postgres_schema,
    seed,
    settings_for,
)


def test_overview_and_process_figures(central: Central) -> None:
    a = central.post("/api/processes", definition("A"), status=201).json["process_id"]
    b = central.post("/api/processes", definition("B"), status=201).json["process_id"]
    central.delete(f"/api/processes/{b}")
    now = utcnow()
    # Two hours of yesterday, neither the present hour (today's executions count in it).
    busy, quiet = (now.hour + 8) % 24, (now.hour + 16) % 24
    at_busy = now.replace(hour=busy, minute=5) - dt.timedelta(days=1)
    at_quiet = now.replace(hour=quiet, minute=5) - dt.timedelta(days=1)
    for ms in (100, 200, 300):
        seed(a, "completed", ms=ms, started=at_busy)
    seed(a, "failed", ms=400, error="radio busy", started=at_busy)
    seed(a, "failed", ms=400, error="radio busy", started=at_quiet, trigger="time_schedule")
    seed(a, "timeout", ms=1000, error="timed out after 30 s", started=at_quiet,
         trigger="time_schedule")
    seed(b, "queued", ms=None, started=now)
    seed(b, "running", ms=None, started=now)

    o = central.get("/api/processes/analytics/overview", role="viewer").json
    assert o["total_processes"] == 2 and o["active_processes"] == 1
    assert o["total_executions"] == 8
    assert o["success_rate"] == round(3 / 6, 4)
    assert o["error_rate"] == round(3 / 6, 4)
    assert o["avg_execution_time"] == round((100 + 200 + 300 + 400 + 400 + 1000) / 6, 1)
    assert o["executions_queued"] == 1 and o["executions_running"] == 1
    assert o["executions_by_status"] == {"completed": 3, "failed": 2, "timeout": 1,
                                         "queued": 1, "running": 1}
    assert o["executions_by_hour"][busy] == 4 and o["executions_by_hour"][quiet] == 2
    assert o["peak_execution_hours"][0] == {"hour": busy, "executions": 4}
    assert o["trigger_frequencies"] == {"manual": 6, "time_schedule": 2}

    p = central.get(f"/api/processes/{a}/analytics").json
    assert p["execution_count"] == 6 and p["success_rate"] == 0.5
    assert p["avg_execution_time"] == o["avg_execution_time"]
    assert p["failure_reasons"] == [{"reason": "radio busy", "count": 2},
                                    {"reason": "timed out after 30 s", "count": 1}]


def test_rollups_follow_every_insert_update_and_delete(central: Central) -> None:
    rng = random.Random(7)
    statuses = ("running", "completed", "failed", "timeout", "queued")
    with database.connection_context():
        rows = [ProcessExecution.create(
            process_id=rng.randint(1, 4), status=rng.choice(statuses),
            execution_time_ms=rng.choice((None, rng.randint(1, 5000))),
            trigger_type=rng.choice(("manual", None, "time_schedule")),
            started_at=utcnow() - dt.timedelta(minutes=rng.randint(0, 600)))
            for _ in range(120)]
        for row in rng.sample(rows, 60):
            row.status = rng.choice(statuses)
            row.execution_time_ms = rng.randint(1, 5000)
            row.save()
        ProcessExecution.delete().where(ProcessExecution.id.in_(
            [r.id for r in rng.sample(rows, 30)])).execute()
        survivors = ProcessExecution.select().order_by(ProcessExecution.id).limit(10)
        ProcessExecution.insert_many([  # what the sync's ingest does: upsert by uid
            {"uid": r.uid, "process_id": r.process_id, "status": "timeout",
             "execution_time_ms": 30000, "started_at": r.started_at,
             "trigger_type": r.trigger_type} for r in survivors]).on_conflict(
            conflict_target=[ProcessExecution.uid],
            update={ProcessExecution.status: "timeout",
                    ProcessExecution.execution_time_ms: 30000}).execute()
        fold(central.ctx.db)
        kept = _snapshot()
        rebuild(central.ctx.db)  # recomputed from scratch: the same figures
        assert _snapshot() == kept
        assert sum(n for (_p, s), (n, _t, _c) in kept[1].items() if s == "timeout") >= 10
        with bulk_load(central.ctx.db):
            ProcessExecution.insert_many([{"process_id": 9, "status": "completed",
                                           "execution_time_ms": 5, "started_at": utcnow()}
                                          for _ in range(10)]).execute()
        ProcessExecution.create(process_id=9, status="failed")  # triggers are back
    figures = central.get("/api/processes/analytics/overview").json
    assert figures["total_executions"] == 90 + 11
    assert central.get("/api/processes/executions?process_id=9").json["total"] == 11


def _snapshot() -> tuple[dict[tuple[str, str, str], tuple[int, int, int]],
                         dict[tuple[int, str], tuple[int, int, int]]]:
    hourly = {(str(r.hour), r.trigger_type, r.status): (r.executions, r.time_ms_sum,
                                                         r.time_count)
              for r in ExecutionRollupHourly.select() if r.executions}
    per_process = {(r.process_id, r.status): (r.executions, r.time_ms_sum, r.time_count)
                   for r in ExecutionRollupProcess.select() if r.executions}
    return hourly, per_process


@pytest.mark.postgres
def test_postgres_writers_do_not_queue_on_the_rollup_rows(pg_schema_url: str) -> None:
    """Two ingest transactions touching the same hour and status: the second commits while
    the first is still open (row triggers would make it wait for the first's row lock)."""
    ctx = CentralContext(settings=settings_for(pg_schema_url))
    make_app(ctx.settings, ctx)  # migrated
    empty_postgres_schema(pg_schema_url)
    schema = pg_schema_url.rpartition("schema=")[2]
    insert = ("INSERT INTO process_executions (uid, process_id, process_uid, process_version, "
              "station_id, status, started_at, updated_at, execution_time_ms, trigger_type, "
              "steps_completed) VALUES (%s, 7, 'p7', 1, 'st-1', 'completed', now(), now(), "
              "100, 'manual', 1)")
    first, second = (psycopg2.connect(PG_URL, options=f"-c search_path={schema}")
                     for _ in range(2))
    try:
        with first.cursor() as cur:
            cur.execute(insert, (new_uid(),))  # open transaction, not committed
        with second.cursor() as cur:
            cur.execute("SET statement_timeout = 5000")
            cur.execute(insert, (new_uid(),))
        second.commit()  # would raise QueryCanceled after 5 s if it waited for `first`
        first.commit()
    finally:
        first.close()
        second.close()
    with database.connection_context():
        fold(ctx.db)
        assert ExecutionRollupProcess.get(process_id=7, status="completed").executions == 2
    ctx.db.close_all()
