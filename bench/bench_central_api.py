"""Central API latency at fleet scale: 1,000 processes and 1,000,000 executions.

Seeds a fresh database (SQLite file, and/or a fresh PostgreSQL schema) with bulk inserts
(batches of 2,000 rows, one transaction each, with the insert statement peewee generates for
the model; rollup triggers off during the load and the rollups rebuilt after it:
central.rollups.bulk_load), then measures the list, detail and
analytics endpoints in-process through WebTest, with a bearer token as a script would.
Prints p50/p99 per endpoint; the target is under 50 ms for each.

    .venv/bin/python bench/bench_central_api.py                  # both databases, 1M
    .venv/bin/python bench/bench_central_api.py --db sqlite --executions 100000   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peewee import PostgresqlDatabase

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from webtest import TestApp

from agent.core.ids import new_uid
from agent.core.models import (
    AdminUser,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    database,
    utcnow,
)
from agent.processes import save_process
from central.app import make_app
from central.auth import create_token
from central.config import load_settings
from central.context import CentralContext
from central.rollups import bulk_load

TARGET_MS = 50.0
STATUSES = (["completed"] * 85 + ["failed"] * 10 + ["timeout"] * 3 + ["running"] + ["queued"])
TRIGGERS = ("manual", "time_schedule", "message_received", "zone_entry", "alert_created")
ERRORS = ("radio busy", "timed out after 30 s", "module 'zones' is not available here",
          "no route to node !a1b2c3d4")
BATCH = 2000


def definition(i: int) -> dict[str, Any]:
    return {
        "name": f"Process {i}", "description": f"benchmark process {i}",
        "stations": [f"st-{i % 20}"],
        "triggers": [{"trigger_type": "manual"}],
        "actions": [{"action_type": "log", "action_config": {"message": "step one"}},
                    {"action_type": "create_alert", "action_config": {"title": "Bench"}}],
    }


EXECUTION_FIELDS = ("uid", "process_id", "process_uid", "station_id", "triggered_by",
                    "trigger_type", "started_at", "completed_at", "status",
                    "execution_time_ms", "error_message", "steps_completed", "total_steps",
                    "updated_at", "process_version")


def bulk_insert(db: Any, rows: list[tuple[Any, ...]]) -> None:
    """One batch in one transaction: the statement peewee generates for the model, run by
    the driver's bulk path (sqlite3 executemany, psycopg2 execute_values). Generating the
    SQL of a 2,000-row insert_many costs peewee ~15 ms a batch, 80 % of the seeding time."""
    fields = [getattr(ProcessExecution, name) for name in EXECUTION_FIELDS]
    sql, _params = ProcessExecution.insert_many([rows[0]], fields=fields).sql()
    sql = sql.split(" RETURNING")[0]
    with db.atomic():
        cursor = db.cursor()
        if isinstance(db, PostgresqlDatabase):
            from psycopg2.extras import execute_values

            execute_values(cursor, sql[:sql.index("VALUES") + 6] + " %s", rows,
                           page_size=len(rows))
        else:
            cursor.executemany(sql, [tuple(v.isoformat(" ") if isinstance(v, dt.datetime)
                                           else v for v in row) for row in rows])


def seed(db: Any, processes: int, executions: int, rng: random.Random) -> dict[str, Any]:
    t0 = time.perf_counter()
    with database.atomic():
        process_rows = [save_process(definition(i), origin="central")
                        for i in range(processes)]
    uids = {p.id: p.uid for p in process_rows}
    t1 = time.perf_counter()
    now = utcnow()
    span = 30 * 24 * 3600
    step = span / max(executions, 1)
    first = now - dt.timedelta(seconds=span)
    with bulk_load(db):
        for start in range(0, executions, BATCH):
            rows = []
            for i in range(start, min(start + BATCH, executions)):
                pid = rng.randint(1, processes)
                status = rng.choice(STATUSES)
                # executions arrive in time order (as they do), a little jitter
                started = first + dt.timedelta(seconds=i * step + rng.random())
                finished = status not in ("running", "queued")
                ms = rng.randint(20, 4000) if finished else None
                rows.append((
                    new_uid(), pid, uids[pid], f"st-{pid % 20}", "system",
                    rng.choice(TRIGGERS), started,
                    started + dt.timedelta(milliseconds=ms) if ms else None, status, ms,
                    rng.choice(ERRORS) if status in ("failed", "timeout") else None,
                    2 if status == "completed" else 1, 2, started, 1))
            bulk_insert(db, rows)
    t2 = time.perf_counter()
    detail_ids = rng.sample(range(1, executions + 1), min(200, executions))
    with database.atomic():
        for eid in detail_ids:
            for order in (1, 2):
                ProcessExecutionStep.insert(execution=eid, action_id=order, status="completed",
                                            action_order=order, action_type="log",
                                            execution_time_ms=5).execute()
            ProcessExecutionLog.insert_many([
                {"execution": eid, "seq": seq, "message": text, "at": now}
                for seq, text in enumerate(("triggered by manual", "step 1 (log) completed",
                                            "step 2 (create_alert) completed",
                                            "completed"), start=1)]).execute()
    db.execute_sql("ANALYZE")
    t3 = time.perf_counter()
    return {"processes_s": t1 - t0, "executions_s": t2 - t1, "extras_s": t3 - t2,
            "detail_ids": detail_ids}


def measure(app: TestApp, headers: dict[str, str], requests: int,
            paths: Callable[[], str]) -> tuple[float, float]:
    samples = []
    for _ in range(5):  # warm-up
        app.get(paths(), headers=headers)
    for _ in range(requests):
        path = paths()
        t0 = time.perf_counter()
        app.get(path, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1,
                                                   int(len(samples) * 0.99))]


def run(url: str, label: str, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    rng = random.Random(42)
    ctx = CentralContext(settings=load_settings(None, {"FIREFLY_DATABASE_URL": url}))
    app = TestApp(make_app(ctx.settings, ctx), lint=False)
    assert ctx.db is not None
    with database.connection_context():
        seeded = seed(ctx.db, args.processes, args.executions, rng)
        user = AdminUser.create(username="bench", role="admin", password_hash="!")
        token = create_token(user, "bench")[1]
    print(f"{label}: seeded {args.processes} processes in {seeded['processes_s']:.1f} s, "
          f"{args.executions} executions in {seeded['executions_s']:.1f} s "
          f"(+ steps, logs, ANALYZE {seeded['extras_s']:.1f} s)", flush=True)
    headers = {"Authorization": f"Bearer {token}"}
    pid = lambda: rng.randint(1, args.processes)  # noqa: E731
    eid = lambda: rng.choice(seeded["detail_ids"])  # noqa: E731
    endpoints: list[tuple[str, Callable[[], str]]] = [
        ("GET /api/processes?limit=50", lambda: "/api/processes?limit=50"),
        ("GET /api/processes?active_only&offset=500",
         lambda: "/api/processes?active_only=true&limit=50&offset=500"),
        ("GET /api/processes/{id}", lambda: f"/api/processes/{pid()}"),
        ("GET /api/processes/executions?limit=50",
         lambda: "/api/processes/executions?limit=50"),
        ("GET /api/processes/executions?offset=5000",
         lambda: "/api/processes/executions?limit=50&offset=5000"),
        ("GET /api/processes/executions?status=failed",
         lambda: "/api/processes/executions?status=failed&limit=50"),
        ("GET /api/processes/executions?process_id=",
         lambda: f"/api/processes/executions?process_id={pid()}&limit=50"),
        ("GET /api/processes/executions?process_id=&status=",
         lambda: f"/api/processes/executions?process_id={pid()}&status=completed&limit=50"),
        ("GET /api/processes/executions/{id}", lambda: f"/api/processes/executions/{eid()}"),
        ("GET /api/processes/executions/{id}/logs?q=",
         lambda: f"/api/processes/executions/{eid()}/logs?q=step"),
        ("GET /api/processes/analytics/overview",
         lambda: "/api/processes/analytics/overview"),
        ("GET /api/processes/{id}/analytics", lambda: f"/api/processes/{pid()}/analytics"),
    ]
    results = []
    for name, paths in endpoints:
        p50, p99 = measure(app, headers, args.requests, paths)
        results.append((name, p50, p99))
        flag = "" if p99 < TARGET_MS else f"  <-- over {TARGET_MS:.0f} ms"
        print(f"  {name:<52} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms{flag}", flush=True)
    ctx.db.close_all()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL schema (to EXPLAIN queries); drop it yourself")
    args = parser.parse_args()
    failed = False
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results = run(f"sqlite:///{tmp}/central.db", "SQLite", args)
            failed |= any(p99 >= TARGET_MS for _n, _p50, p99 in results)
    if args.db in ("postgres", "both"):
        import psycopg2

        schema = f"bench_central_{random.randrange(1 << 30):x}"
        try:
            results = run(f"{args.pg_url}?schema={schema}", "PostgreSQL", args)
            failed |= any(p99 >= TARGET_MS for _n, _p50, p99 in results)
        finally:
            conn = psycopg2.connect(args.pg_url)
            conn.autocommit = True
            with conn.cursor() as cur:
                if args.keep:
                    print(f"kept PostgreSQL schema {schema}")
                else:
                    cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
