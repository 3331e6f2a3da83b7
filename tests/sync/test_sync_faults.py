"""Fault tests: real Mosquitto, ``firefly-agent run`` and ``firefly-central serve`` as separate
processes, real kills. Each ends with every execution at central exactly once (in the state
the station has) and every definition at the station.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import prometheus_samples, wait_until
from tests.sync.sync_support import (
    LOG_PROCESS,
    Field,
    Mosquitto,
    prefill_station,
    ticking_process,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CONVERGE = 120.0  # seconds: generous, the machine is shared


@pytest.fixture
def field(tmp_path: Path, broker: Mosquitto) -> Iterator[Field]:
    setup = Field(tmp_path, broker, "st-f", f"sqlite:///{tmp_path / 'central.db'}")
    try:
        yield setup
    finally:
        setup.stop_all()


def assert_converged(field: Field) -> None:
    wait_until(field.converged, timeout=CONVERGE, interval=0.3,
               message=f"central to hold every execution of {field.station}:\n{field.logs()}")
    station = field.station_executions()
    assert field.central_execution_count() == len(station)


def test_broker_stopped_then_killed(field: Field) -> None:
    """The broker goes away twice: stopped cleanly, then SIGKILLed (losing whatever it had
    not saved); the station keeps running its processes and the outbox covers the rest."""
    ticking = ticking_process(time.time() + 14)
    prefill_station(field.db, field.station, 150, extra=(ticking,))
    field.start_central()
    field.start_agent()
    wait_until(lambda: field.central_execution_count() >= 150, timeout=60,
               message=f"the backlog at central:\n{field.logs()}")

    assert health(field)["status"] == "ok"
    field.broker.stop()
    # Central still serves, and says what is wrong (monitoring reads GET /healthz).
    degraded = wait_until(lambda: (lambda h: h if h["status"] == "degraded" else None)(
        health(field)), timeout=30, message="central to report the broker down")
    assert "not connected to the broker" in degraded["checks"]["broker"]["problem"]
    before = len(field.station_executions())
    wait_until(lambda: len(field.station_executions()) >= before + 2, timeout=30,
               message="the station to run processes while the broker is down")
    field.broker.start()
    wait_until(lambda: field.central_execution_count() >= before + 2, timeout=60,
               message=f"executions made while the broker was down:\n{field.logs()}")
    wait_until(lambda: health(field)["status"] == "ok", timeout=30, message="healthy again")

    field.broker.kill()
    time.sleep(1.5)
    field.broker.start()
    assert_converged(field)
    wait_until(lambda: time.time() > ticking["triggers"][0]["conditions"]["value"] + 1,
               timeout=30)
    assert_converged(field)
    # The definitions made at the station reached central and came back unchanged.
    assert field.central_processes() == field.station_processes()
    # Prometheus sees the same: every execution, the station's records, the station online.
    figures = metrics(field)
    assert sum(v for (name, _labels), v in figures.items()
               if name == "firefly_central_executions") == field.central_execution_count()
    station = (("station", field.station),)
    assert figures[("firefly_central_station_records_ingested_total", station)] >= 150
    assert figures[("firefly_central_station_online", station)] == 1


def health(field: Field) -> dict[str, Any]:
    """GET /healthz of the running central (no credentials)."""
    url = f"http://127.0.0.1:{field.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def metrics(field: Field) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics of the running central, as (sample, labels) -> value."""
    request = urllib.request.Request(f"http://127.0.0.1:{field.http_port}/metrics",
                                     headers={"Authorization": f"Bearer {field.token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return prometheus_samples(answer.read().decode())


def test_agent_killed_mid_batch_then_restarted(field: Field) -> None:
    """SIGKILL while batches are in flight; acknowledgements for them are then lost. After
    the restart the station sends what central lacks; central keeps one copy of each."""
    total = 600
    field.batch_size = 10
    prefill_station(field.db, field.station, total)
    field.start_central()
    field.start_agent()
    at_kill = wait_until(lambda: field.central_execution_count() or None, timeout=60,
                         interval=0.01, message=f"the first batch at central:\n{field.logs()}")
    assert field.agent is not None
    field.agent.kill()
    assert at_kill < total, "the agent was not killed in the middle of sending"
    time.sleep(1.0)  # central commits and acknowledges batches to a dead agent
    assert field.outbox_depth() > 0
    field.start_agent()
    assert_converged(field)
    assert len(field.central_executions()) == total


def test_central_killed_mid_ingest_then_restarted(tmp_path: Path, broker: Mosquitto,
                                                  pg_database: str) -> None:
    """SIGKILL of central (on PostgreSQL) while it ingests: what it had not committed is
    rolled back and sent again; nothing is stored twice."""
    field = Field(tmp_path, broker, "st-c", f"{pg_database}?schema=killed")
    field.batch_size = 10
    try:
        total = 500
        prefill_station(field.db, field.station, total)
        field.start_central()
        field.start_agent()
        wait_until(lambda: field.central_execution_count() or None, timeout=60, interval=0.01,
                   message=f"the first batch at central:\n{field.logs()}")
        assert field.central is not None
        field.central.kill()
        at_kill = field.central_execution_count()
        assert at_kill < total, "central was not killed in the middle of ingesting"
        time.sleep(1.0)
        field.start_central()
        assert_converged(field)
        assert len(field.central_executions()) == total
    finally:
        field.stop_all()


def test_station_offline_while_central_changes_and_deletes_processes(
        tmp_path: Path, broker: Mosquitto, pg_database: str) -> None:
    field = Field(tmp_path, broker, "st-o", f"{pg_database}?schema=offline")
    try:
        offline_changes(field)
    finally:
        field.stop_all()


def offline_changes(field: Field) -> None:
    prefill_station(field.db, field.station, 3)
    field.start_central()
    kept = field.create_process({**LOG_PROCESS, "name": "Kept",
                                                "stations": [field.station]})
    changed = field.create_process({**LOG_PROCESS, "name": "Changed",
                                                   "stations": ["*"]})
    removed = field.create_process({**LOG_PROCESS, "name": "Removed",
                                                   "stations": [field.station]})
    moved = field.create_process({**LOG_PROCESS, "name": "Moved",
                                                 "stations": [field.station]})
    field.start_agent()
    uids = {p["name"]: p["uid"] for p in (kept, changed, removed, moved)}
    wait_until(lambda: set(uids.values()) <= set(field.station_processes()), timeout=60,
               message=f"central's definitions at the station:\n{field.logs()}")

    assert field.agent is not None
    field.agent.stop()  # offline
    field.api("PUT", f"/api/processes/{changed['id']}", {**LOG_PROCESS, "name": "Changed v2",
                                                         "stations": ["*"]})
    field.api("DELETE", f"/api/processes/{removed['id']}")
    field.api("PUT", f"/api/processes/{moved['id']}", {**LOG_PROCESS, "name": "Moved",
                                                       "stations": ["elsewhere"]})
    field.start_agent()

    def station_view() -> dict[str, tuple[str, bool, bool]]:
        return {uid: field.station_processes().get(uid, ("", False, False))
                for uid in uids.values()}

    expected = {uids["Kept"]: ("Kept", True, False),
                uids["Changed"]: ("Changed v2", True, False),
                uids["Removed"]: ("Removed", False, False),  # deactivated at central
                uids["Moved"]: ("Moved", True, True)}  # no longer assigned: a tombstone
    wait_until(lambda: station_view() == expected, timeout=CONVERGE,
               message=f"the station to catch up ({station_view()}):\n{field.logs()}")
    assert_converged(field)


def test_same_process_edited_at_central_and_at_an_offline_station(field: Field) -> None:
    prefill_station(field.db, field.station, 1)
    field.start_central()
    first = field.create_process({**LOG_PROCESS, "name": "Check-in",
                                                 "stations": [field.station]})
    second = field.create_process({**LOG_PROCESS, "name": "Roll call",
                                                  "stations": [field.station]})
    field.start_agent()
    wait_until(lambda: {first["uid"], second["uid"]} <= set(field.station_processes()),
               timeout=60, message=f"the definitions at the station:\n{field.logs()}")
    assert field.agent is not None
    field.agent.stop()  # offline

    # Check-in: central edits first, the field admin later (the station wins).
    field.api("PUT", f"/api/processes/{first['id']}", {**LOG_PROCESS, "name": "Check-in (c)",
                                                       "stations": [field.station]})
    time.sleep(0.05)
    station_edit(field, first["uid"], "Check-in (field)")
    # Roll call: the field admin edits first, central later (central wins).
    station_edit(field, second["uid"], "Roll call (field)")
    time.sleep(0.05)
    field.api("PUT", f"/api/processes/{second['id']}", {**LOG_PROCESS, "name": "Roll call (c)",
                                                        "stations": [field.station]})
    field.start_agent()

    want = {first["uid"]: "Check-in (field)", second["uid"]: "Roll call (c)"}

    def names(processes: dict[str, tuple[str, bool, bool]]) -> dict[str, str]:
        return {uid: processes.get(uid, ("?", False, False))[0] for uid in want}

    wait_until(lambda: names(field.station_processes()) == want
               and names(field.central_processes()) == want, timeout=CONVERGE,
               message=f"both sides to agree:\n{field.logs()}")
    # No edit disappeared: each losing version is in central's audit trail.
    lost = {(e["entity_uid"], e["action"]): e["before"]["definition"]["name"]
            for e in field.api("GET", "/api/audit?entity=process&limit=500")["entries"]
            if e["action"] in ("sync-merge", "sync-conflict-lost") and e["before"]}
    assert lost[(first["uid"], "sync-merge")] == "Check-in (c)"
    assert lost[(second["uid"], "sync-conflict-lost")] == "Roll call (field)"


def station_edit(field: Field, uid: str, name: str) -> None:
    """A field admin's offline edit: ``firefly-agent process import`` of the new version."""
    import json
    import os
    import subprocess
    import sys

    from tests.support import REPO

    path = field.tmp / f"{uid}.json"
    path.write_text(json.dumps({**LOG_PROCESS, "uid": uid, "name": name,
                                "stations": [field.station]}))
    env = {**os.environ, "FIREFLY_DB": str(field.db), "FIREFLY_STATION_ID": field.station}
    subprocess.run([sys.executable, "-m", "agent", "process", "import", str(path)], env=env,
                   cwd=REPO, check=True, capture_output=True, timeout=60)


def copy_database(source: Path, target: Path) -> None:
    import shutil

    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{source}{suffix}")
        if path.exists():
            shutil.copyfile(path, f"{target}{suffix}")
        else:
            Path(f"{target}{suffix}").unlink(missing_ok=True)


def test_station_restored_from_an_old_backup(field: Field) -> None:
    """The restored file reuses seqs central already holds: the station notices from
    central's acknowledgement and starts a new incarnation, so nothing new is lost."""
    prefill_station(field.db, field.station, 10)
    field.start_central()
    field.start_agent()
    assert_converged(field)
    assert field.agent is not None
    field.agent.stop()
    backup = field.tmp / "backup.db"
    copy_database(field.db, backup)
    prefill_station(field.db, field.station, 10)  # synced, then lost with the SD card
    field.start_agent()
    assert_converged(field)
    field.agent.stop()

    copy_database(backup, field.db)
    prefill_station(field.db, field.station, 5)  # made after the restore
    after_restore = set(field.station_executions())
    field.start_agent()
    wait_until(lambda: field.outbox_depth() == 0
               and after_restore <= set(field.central_executions()), timeout=CONVERGE,
               message=f"the restored station's new executions at central:\n{field.logs()}")
    central = field.central_executions()
    assert {uid: central[uid] for uid in after_restore} == field.station_executions()
