"""Station health and commands, end to end: real broker, agent and central processes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.sync import protocol
from tests.support import wait_until
from tests.sync.sync_support import (
    LOG_PROCESS,
    PASSWORD,
    Field,
    Mosquitto,
    central_rows,
    prefill_station,
    sqlite_rows,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def field(tmp_path: Path, broker: Mosquitto) -> Iterator[Field]:
    setup = Field(tmp_path, broker, "st-l", f"sqlite:///{tmp_path / 'central.db'}")
    try:
        yield setup
    finally:
        setup.stop_all()


class Monitor:
    """What a monitoring system sees: plain MQTT, JSON payloads, no Firefly code."""

    def __init__(self, broker: Mosquitto) -> None:
        self.latest: dict[str, Any] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="monitor",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set("monitor", PASSWORD)
        self.client.on_message = lambda _c, _u, m: self.latest.__setitem__(
            m.topic, json.loads(m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe([("firefly/v1/stations/+/status", 1),
                               ("firefly/v1/stations/+/heartbeat", 1)])
        self.client.loop_start()

    def get(self, topic: str) -> Any:
        return self.latest.get(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def station_row(field: Field) -> dict[str, Any] | None:
    listing = field.api("GET", "/api/stations")
    return next((s for s in listing["stations"] if s["id"] == field.station), None)


def test_health_is_visible_to_monitoring_and_at_central(field: Field, broker: Mosquitto) -> None:
    process_uid = prefill_station(field.db, field.station, 5)
    monitor = Monitor(broker)
    try:
        field.start_central()
        field.start_agent()
        status = protocol.status_topic(field.station)
        beat = protocol.heartbeat_topic(field.station)
        wait_until(lambda: (monitor.get(beat) or {}).get("outbox_depth") == 0, timeout=60,
                   message=f"a heartbeat with an empty outbox:\n{field.logs()}")
        heartbeat = monitor.get(beat)
        assert monitor.get(status)["state"] == "online"
        assert heartbeat["v"] == 1 and heartbeat["station"] == field.station
        assert heartbeat["last_sync"] is not None
        assert {"radio", "airtime_used", "engine", "dead_letters"} <= set(heartbeat)
        assert {"queue_depth", "stats"} <= set(heartbeat["engine"])

        row = wait_until(lambda: (s := station_row(field)) and s["outbox_depth"] == 0 and s,
                         timeout=30, message="central's view of the station")
        assert row["online"] is True
        assert row["last_seen"] and row["last_sync"]
        assert [p["uid"] for p in row["assigned_processes"]] == [process_uid]
        assert field.api("GET", f"/api/stations/{field.station}")["heartbeat"]["station"] \
            == field.station

        # A malformed message for the station is kept as a dead letter, counted in its health.
        forger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-forger",
                             protocol=mqtt.MQTTv5)
        forger.username_pw_set("central", PASSWORD)
        forger.connect("127.0.0.1", broker.port)
        forger.loop_start()
        forger.publish(protocol.down_topic(field.station, protocol.COMMAND), b"\xc1garbage",
                       qos=1).wait_for_publish(10)
        forger.loop_stop()
        forger.disconnect()
        wait_until(lambda: (monitor.get(beat) or {}).get("dead_letters") == 1, timeout=30,
                   message="the dead letter in the station's heartbeat")
        assert "not msgpack" in sqlite_rows(field.db, "SELECT reason FROM sync_dead_letters")[0][0]
        assert field.agent is not None and field.agent.alive()

        field.agent.kill()  # the broker publishes the will
        wait_until(lambda: monitor.get(status)["state"] == "offline", timeout=60,
                   message="the will (offline)")
        wait_until(lambda: station_row(field)["online"] is False, timeout=30,  # type: ignore[index]
                   message="central to see the station offline")
    finally:
        monitor.close()


def set_command(field: Field, sql: str, *args: Any) -> None:
    path = field.central_url.removeprefix("sqlite:///")
    con = sqlite3.connect(path, timeout=30)
    try:
        with con:
            con.execute(sql, args)
    finally:
        con.close()


def queue_command(field: Field, kind: str, process_uid: str) -> str:
    uid = f"cmd-{kind}-{dt.datetime.now().timestamp()}"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    set_command(field, "INSERT INTO central_commands (uid, station_id, kind, process_uid, "
                       "payload, status, created_at, expires_at, updated_at) "
                       "VALUES (?, ?, ?, ?, '{}', 'pending', ?, ?, ?)",
                uid, field.station, kind, process_uid, now, now + dt.timedelta(hours=1), now)
    return uid


def command_status(field: Field, uid: str) -> str:
    return str(central_rows(field.central_url,
                            "SELECT status FROM central_commands WHERE uid = ?", uid)[0][0])


def central_execution(field: Field, execution_id: int) -> tuple[str, str, str]:
    row = central_rows(field.central_url, "SELECT uid, status, station_id FROM "
                                          "process_executions WHERE id = ?", execution_id)[0]
    return str(row[0]), str(row[1]), str(row[2])


def test_commands_run_pause_resume_wait_and_expire(field: Field) -> None:
    prefill_station(field.db, field.station, 1)
    field.start_central()
    process = field.create_process({**LOG_PROCESS, "name": "Evac north",
                                    "stations": [field.station]})
    field.start_agent()
    wait_until(lambda: process["uid"] in field.station_processes(), timeout=60,
               message=f"the process at the station:\n{field.logs()}")

    # Run now: central's queued execution becomes the station's, under the same uid.
    execution_id = field.api("POST", f"/api/processes/{process['id']}/execute",
                             {"trigger_data": {"who": "ops"}})["execution_id"]
    wait_until(lambda: central_execution(field, execution_id)[1] == "completed", timeout=60,
               message=f"the commanded run to complete:\n{field.logs()}")
    uid = central_execution(field, execution_id)[0]
    assert field.station_executions()[uid][0] == "completed"

    # Pause and resume.
    paused = queue_command(field, "pause", process["uid"])
    wait_until(lambda: sqlite_rows(field.db, "SELECT paused FROM processes WHERE uid = ?",
                                   process["uid"]) == [(1,)], timeout=60,
               message="the station to pause the process")
    wait_until(lambda: command_status(field, paused) == "done", timeout=60)
    resumed = queue_command(field, "resume", process["uid"])
    wait_until(lambda: sqlite_rows(field.db, "SELECT paused FROM processes WHERE uid = ?",
                                   process["uid"]) == [(0,)], timeout=60,
               message="the station to resume the process")
    wait_until(lambda: command_status(field, resumed) == "done", timeout=60)

    # For an offline station a command waits, visibly; it runs when the station is back.
    assert field.agent is not None
    field.agent.stop()
    wait_until(lambda: station_row(field)["online"] is False, timeout=30)  # type: ignore[index]
    waiting_id = field.api("POST", f"/api/processes/{process['id']}/execute",
                           {"trigger_data": {}})["execution_id"]
    expiring_id = field.api("POST", f"/api/processes/{process['id']}/execute",
                            {"trigger_data": {}})["execution_id"]
    waiting_uid, expiring_uid = (central_execution(field, i)[0]
                                 for i in (waiting_id, expiring_id))
    commands = {c["execution_uid"]: c for c in
                field.api("GET", f"/api/stations/{field.station}")["commands"]}
    assert commands[waiting_uid]["status"] == "pending"
    # The second one's time runs out before the station is back.
    set_command(field, "UPDATE central_commands SET expires_at = ? WHERE execution_uid = ?",
                dt.datetime.now(dt.UTC).replace(tzinfo=None), expiring_uid)
    wait_until(lambda: central_execution(field, expiring_id)[1] == "dropped", timeout=30,
               message="the expired command's execution to be dropped")
    field.start_agent()
    wait_until(lambda: central_execution(field, waiting_id)[1] == "completed", timeout=60,
               message=f"the waiting command to run:\n{field.logs()}")
    # Central holds what the station ran, and the execution the station never received.
    wait_until(lambda: field.outbox_depth() == 0 and field.station_executions() == {
        uid: state for uid, state in field.central_executions().items()
        if uid != expiring_uid}, timeout=60, message="the station's executions at central")
    assert expiring_uid not in field.station_executions()
    statuses = {c["execution_uid"]: c["status"] for c in
                field.api("GET", f"/api/stations/{field.station}")["commands"]}
    assert (statuses[waiting_uid], statuses[expiring_uid]) == ("done", "expired")
