"""Manual runs (at central and handed to stations), execution monitoring and logs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from agent.core.models import Outbox, ProcessExecution, database, utcnow
from central.models import CentralCommand
from central.server import make_engine, reload_on_change
from tests.central.central_support import Central, definition, seed
from tests.support import wait_until


@pytest.fixture
def engine(central: Central) -> Iterator[Any]:
    """Central's own engine (station "central"), with a scheduler, as `serve` runs it."""
    engine, scheduler = make_engine(central.ctx.clock)
    scheduler.start()
    engine.start()
    central.ctx.engine = engine
    central.ctx.on_change.append(reload_on_change(engine))
    yield engine
    engine.stop()
    scheduler.shutdown(wait=False)
    central.ctx.engine = None


def test_a_station_process_is_queued_for_each_station_with_a_run_command(
        central: Central) -> None:
    pid = central.post("/api/processes", definition(stations=["st-north", "st-south"]),
                       status=201).json["process_id"]
    answer = central.post(f"/api/processes/{pid}/execute",
                          {"trigger_data": {"who": "Ann"}}, role="operator", status=201).json
    first, second = answer["execution_ids"]
    assert answer["execution_id"] == first
    north = central.get(f"/api/processes/executions/{first}").json
    assert north["status"] == "queued" and north["station_id"] == "st-north"
    assert north["trigger_event"]["data"] == {"who": "Ann"}
    assert north["process_uid"] == central.get(f"/api/processes/{pid}").json["uid"]
    assert north["triggered_by"].startswith("operator-")
    assert central.get(f"/api/processes/executions/{second}").json["station_id"] == "st-south"
    with database.connection_context():
        commands = list(CentralCommand.select().order_by(CentralCommand.id))
    assert [(c.station_id, c.kind, c.status) for c in commands] == \
        [("st-north", "run", "pending"), ("st-south", "run", "pending")]
    assert commands[0].execution_uid == north["uid"]
    assert commands[0].payload["trigger_data"] == {"who": "Ann"}
    assert commands[0].expires_at > commands[0].created_at
    trail = central.get(f"/api/audit?entity=process&entity_uid={north['process_uid']}").json
    assert [e["action"] for e in trail["entries"]][:2] == ["execute", "execute"]


def test_star_goes_to_every_known_station_and_inactive_is_refused(central: Central) -> None:
    pid = central.post("/api/processes", definition(stations=["*"]),
                       status=201).json["process_id"]
    assert "no known station" in central.post(f"/api/processes/{pid}/execute", {},
                                              status=409).json["error"]
    central.ctx.station_ids = lambda: ["a", "b", "c"]
    ids = central.post(f"/api/processes/{pid}/execute", {}, status=201).json["execution_ids"]
    assert [central.get(f"/api/processes/executions/{i}").json["station_id"] for i in ids] == \
        ["a", "b", "c"]
    central.delete(f"/api/processes/{pid}")
    assert "not active" in central.post(f"/api/processes/{pid}/execute", {},
                                        status=409).json["error"]
    central.post(f"/api/processes/{pid}/execute", {}, role="viewer", status=403)


def test_a_central_process_runs_in_central_and_its_log_is_searchable(
        central: Central, engine: Any) -> None:
    pid = central.post("/api/processes", definition(stations=["central"]),
                       status=201).json["process_id"]
    eid = central.post(f"/api/processes/{pid}/execute", {"trigger_data": {"who": "Bo"}},
                       status=201).json["execution_id"]
    done = wait_until(lambda: (lambda e: e if e["status"] == "completed" else None)(
        central.get(f"/api/processes/executions/{eid}").json), message="completed")
    assert done["station_id"] == "central" and done["steps_completed"] == 2
    assert [(s["action_type"], s["status"]) for s in done["steps"]] == \
        [("log", "completed"), ("create_alert", "completed")]
    logs = central.get(f"/api/processes/executions/{eid}/logs").json["logs"]
    assert [g["seq"] for g in logs] == sorted(g["seq"] for g in logs) and len(logs) >= 3
    assert any("hello Bo" in g["message"] for g in logs)
    found = central.get(f"/api/processes/executions/{eid}/logs?q=HELLO%20bo").json["logs"]
    assert found and all("hello bo" in g["message"].lower() for g in found)
    later = (utcnow() + dt.timedelta(minutes=1)).isoformat()
    assert central.get(f"/api/processes/executions/{eid}/logs?since={later}").json == \
        {"logs": []}
    assert len(central.get(f"/api/processes/executions/{eid}/logs?until={later}Z")
               .json["logs"]) == len(logs)
    central.get(f"/api/processes/executions/{eid}/logs?since=yesterday", status=400)
    with database.connection_context():  # central has no upstream: nothing queued to sync
        assert Outbox.select().count() == 0


def test_time_schedules_of_central_processes_run_at_central(central: Central,
                                                            engine: Any) -> None:
    body = definition(stations=["central"])
    body["triggers"] = [{"trigger_type": "time_schedule",
                         "trigger_config": {"interval_seconds": 1}}]
    pid = central.post("/api/processes", body, status=201).json["process_id"]
    fleet = central.post("/api/processes", {**body, "name": "fleet", "stations": ["*"]},
                         status=201).json["process_id"]
    runs = wait_until(lambda: central.get(f"/api/processes/executions?process_id={pid}")
                      .json["executions"], timeout=15, message="a scheduled run")
    assert runs[0]["trigger_type"] == "time_schedule" and runs[0]["station_id"] == "central"
    assert central.get(f"/api/processes/executions?process_id={fleet}").json["total"] == 0
    assert central.get(f"/api/processes/{fleet}").json["uid"] not in engine.processes


def test_execution_list_filters_pages_and_counts(central: Central) -> None:
    base = utcnow() - dt.timedelta(hours=3)
    for i in range(6):
        seed(1, "completed" if i % 2 else "failed", started=base + dt.timedelta(minutes=i))
    seed(2, "completed", station="st-south", started=base + dt.timedelta(minutes=10))
    everything = central.get("/api/processes/executions?limit=3").json
    assert everything["total"] == 7 and len(everything["executions"]) == 3
    assert everything["executions"][0]["process_id"] == 2  # newest first
    failed = central.get("/api/processes/executions?process_id=1&status=failed").json
    assert failed["total"] == 3 and {e["status"] for e in failed["executions"]} == {"failed"}
    south = central.get("/api/processes/executions?station_id=st-south").json
    assert south["total"] == 1
    since = (base + dt.timedelta(minutes=4)).isoformat()
    assert central.get(f"/api/processes/executions?since={since}").json["total"] == 3
    assert central.get("/api/processes/executions?status=bogus", status=400).json["errors"][0][
        "path"] == "query.status"
    with database.connection_context():
        ProcessExecution.update(status="completed").where(
            ProcessExecution.status == "failed").execute()
        ProcessExecution.delete().where(ProcessExecution.process_id == 2).execute()
    assert central.get("/api/processes/executions?status=failed").json["total"] == 0
    assert central.get("/api/processes/executions?status=completed").json["total"] == 6
