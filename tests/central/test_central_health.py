"""GET /healthz and GET /metrics: what monitoring (systemd, compose, Prometheus) relies on."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from agent.core.models import database, utcnow
from central.app import make_app
from central.context import CentralContext
from central.models import CentralCommand
from central.sync.models import SyncStation
from tests.central.central_support import PG_URL, Central, TestApp, seed, settings_for
from tests.support import prometheus_samples
from tests.sync.sync_support import postgres_database


def test_healthz_answers_anyone_and_tells_degraded_from_ok(sqlite_central: Central) -> None:
    app, ctx = sqlite_central.app, sqlite_central.ctx
    assert app.get("/healthz").json == {"status": "ok", "checks": {"database": {"ok": True}}}
    ctx.health_checks["broker"] = lambda: "not connected to the broker at mq:1883"

    def broken() -> str | None:
        raise RuntimeError("boom")

    ctx.health_checks["radio"] = broken
    answer = app.get("/healthz", status=200).json  # central still serves: degraded, not down
    assert answer == {"status": "degraded", "checks": {
        "database": {"ok": True},
        "broker": {"ok": False, "problem": "not connected to the broker at mq:1883"},
        "radio": {"ok": False, "problem": "the check failed: boom"}}}


@pytest.fixture
def pg_central() -> Iterator[tuple[Central, str]]:
    with postgres_database() as url:
        ctx = CentralContext(settings=settings_for(url))
        app = make_app(ctx.settings, ctx)
        yield Central(app=TestApp(app), ctx=ctx), url.rsplit("/", 1)[1]
        assert ctx.db is not None
        ctx.db.close_all()


@pytest.mark.postgres
def test_healthz_fails_while_postgresql_refuses_connections_then_recovers(
        pg_central: tuple[Central, str]) -> None:
    central, name = pg_central
    assert central.app.get("/healthz").json["status"] == "ok"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:  # the database goes away under central's pooled connections
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        failing = central.app.get("/healthz", status=503).json
        assert failing["status"] == "failing" and not failing["checks"]["database"]["ok"]
        assert failing["checks"]["database"]["problem"]
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        # the pool's dead connection is replaced: healthy again without a restart
        answers = [central.app.get("/healthz", expect_errors=True).json["status"]
                   for _ in range(3)]
        assert answers[-1] == "ok", answers
    finally:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        admin.close()


def test_metrics_need_a_viewer_and_count_what_central_holds(central: Central) -> None:
    central.app.get("/metrics", status=401)
    pid = central.post("/api/processes", {"name": "Check-in", "stations": ["north"],
                                          "triggers": [{"trigger_type": "manual"}],
                                          "actions": [{"action_type": "log", "action_config":
                                                       {"message": "hi"}}]},
                       status=201).json["process_id"]
    for status in ("completed", "completed", "failed"):
        seed(pid, status, station="north")
    now = utcnow()
    with database.connection_context():
        SyncStation.create(station_id="north", online=True, outbox_depth=7, last_seen=now,
                           records_ingested=120, dead_letters=2)
        SyncStation.create(station_id="south", online=False, records_ingested=30)
        CentralCommand.create(uid="c1", station_id="south", kind="run", process_uid="p",
                              expires_at=now)
    for _ in range(3):
        central.get("/api/processes", role="viewer")
    answer = central.get("/metrics", role="viewer")
    assert answer.content_type == "text/plain"
    got: dict[Any, float] = prometheus_samples(answer.text)
    assert got[("firefly_central_executions", (("status", "completed"),))] == 2
    assert got[("firefly_central_executions", (("status", "failed"),))] == 1
    assert got[("firefly_central_executions", (("status", "running"),))] == 0
    assert got[("firefly_central_sync_records_ingested_total", ())] == 150
    assert got[("firefly_central_sync_dead_letters_total", ())] == 2
    assert got[("firefly_central_stations", (("state", "online"),))] == 1
    assert got[("firefly_central_stations", (("state", "offline"),))] == 1
    assert got[("firefly_central_station_online", (("station", "north"),))] == 1
    assert got[("firefly_central_station_online", (("station", "south"),))] == 0
    assert got[("firefly_central_station_outbox_depth", (("station", "north"),))] == 7
    assert ("firefly_central_station_outbox_depth", (("station", "south"),)) not in got
    seen = got[("firefly_central_station_last_seen_timestamp_seconds", (("station", "north"),))]
    assert abs(seen - (calendar.timegm(now.utctimetuple()) + now.microsecond / 1e6)) < 0.01
    assert got[("firefly_central_station_records_ingested_total", (("station", "south"),))] == 30
    assert got[("firefly_central_commands", (("status", "pending"),))] == 1
    listed = (("method", "GET"), ("route", "/api/processes"), ("status", "200"))
    assert got[("firefly_central_http_request_duration_seconds_count", listed)] == 3
    refused = (("method", "GET"), ("route", "/metrics"), ("status", "401"))
    assert got[("firefly_central_http_request_duration_seconds_count", refused)] == 1
