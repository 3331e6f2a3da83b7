"""Zones: crossings with hysteresis fire zone_entry/zone_exit; update_zone; get_users_in_zone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main as cli_main
from agent.core.codec import decode
from agent.core.models import Outbox
from agent.core.module_models import Zone, ZonePresence
from agent.core.station_models import Node
from tests.modules.modules_support import Station, logging_process, manual, offset

LAT, LON = 46.55, 7.95  # the avalanche zone's centre
RADIUS = 300.0


def _avalanche(station: Station, **extra: Any) -> Zone:
    zones = station.modules["zones"]
    return station.call(lambda: zones.create({"name": "avalanche", "center_lat": LAT,
                                              "center_lon": LON, "radius_m": RADIUS, **extra}))


def _position(station: Station, node_id: str, metres_from_centre: float) -> None:
    lat, lon = offset(LAT, LON, east_m=metres_from_centre)
    station.submit("position_received", {"node_id": node_id, "lat": lat, "lon": lon,
                                         "altitude": 1800, "time": 0})


def test_zone_entry_fires_once_through_jitter_and_exit_fires_on_leaving(station: Station) \
        -> None:
    _avalanche(station)
    entry = station.process(logging_process("warn on entry", "zone_entry", {"zone": "Avalanche"}))
    exits = station.process(logging_process("clear on exit", "zone_exit", {"zone": "avalanche"}))
    other = station.process(logging_process("other zone", "zone_entry", {"zone": "glacier"}))
    node = "!0000a0a0"
    # outside, then GPS jitter around the edge (300 m): within the 25 m margin, no crossing
    for distance in (800, 320, 290, 310, 285, 315, 290):
        _position(station, node, distance)
    station.settle()
    assert station.executions(entry) == []
    # well inside: one entry; jitter inside near the edge does not make it leave
    for distance in (200, 310, 290, 318, 150):
        _position(station, node, distance)
    [entered] = station.wait_executions(entry, 1)
    assert station.executions(exits) == []
    event = entered.trigger_event
    assert event["type"] == "zone_entry"
    assert event["data"]["zone"] == "avalanche" and event["data"]["node_id"] == node
    assert event["data"]["distance_m"] == pytest.approx(100, abs=1)
    # well outside: one exit; back and forth outside the margin: nothing more
    for distance in (400, 280, 330, 900):
        _position(station, node, distance)
    [left] = station.wait_executions(exits, 1)
    assert left.trigger_event["data"]["distance_m"] == pytest.approx(-100, abs=1)
    assert len(station.executions(entry)) == 1
    assert station.executions(other) == []
    state = station.engine.call(lambda: ZonePresence.get(ZonePresence.node_id == node)).result()
    assert state.inside is False


def test_hostile_positions_are_ignored(station: Station) -> None:
    _avalanche(station)
    entry = station.process(logging_process("entry", "zone_entry", {"zone": "avalanche"}))
    for data in ({"node_id": "!0000a0a1", "lat": "46.55", "lon": 7.95},
                 {"node_id": "!0000a0a1", "lat": float("nan"), "lon": 7.95},
                 {"node_id": "!0000a0a1", "lat": 95.0, "lon": 7.95},
                 {"node_id": None, "lat": LAT, "lon": LON},
                 {"lat": LAT, "lon": LON}):
        station.submit("position_received", data)
    _position(station, "!0000a0a1", 0)
    [run] = station.wait_executions(entry, 1)
    assert run.trigger_event["data"]["node_id"] == "!0000a0a1"


def test_zone_trigger_filters_by_group_and_node(station: Station) -> None:
    _avalanche(station)
    users = station.modules["users"]
    station.call(lambda: users.create_group({"name": "north-team"}))
    station.call(lambda: users.create_user({"name": "Ana", "node_ids": ["!0000b0b1"],
                                            "groups": ["north-team"]}))
    station.call(lambda: users.create_user({"name": "Ben", "node_ids": ["!0000b0b2"]}))
    team = station.process(logging_process("team", "zone_entry",
                                           {"zone": "avalanche", "group": "north-team"}))
    ben = station.process(logging_process("ben", "zone_entry", {"node_id": "!0000B0B2"}))
    _position(station, "!0000b0b1", 0)
    _position(station, "!0000b0b2", 0)
    [team_run] = station.wait_executions(team, 1)
    [ben_run] = station.wait_executions(ben, 1)
    assert team_run.trigger_event["data"]["user"] == "Ana"
    assert team_run.trigger_event["data"]["groups"] == ["north-team"]
    assert ben_run.trigger_event["data"]["user"] == "Ben"


def test_update_zone_and_get_users_in_zone_actions(station: Station) -> None:
    zone = _avalanche(station)
    users = station.modules["users"]
    station.call(lambda: users.create_user({"name": "Cleo", "node_ids": ["!0000c0c1"]}))
    station.call(lambda: users.create_user({"name": "Dan", "node_ids": ["!0000c0c2"]}))
    _position(station, "!0000c0c1", 10)
    _position(station, "!0000c0c2", 2000)
    _position(station, "!0000c0c3", -50)  # a node nobody registered
    station.settle()
    uid = station.process(manual("who is inside", [
        {"action_type": "get_users_in_zone", "action_config": {"zone": "avalanche"}},
        {"action_type": "update_zone", "action_config": {
            "zone": "avalanche", "radius_m": "{{ event.radius }}",
            "metadata": {"risk": "{{ event.risk }}"}}},
        {"action_type": "update_zone", "action_config": {"zone": zone.uid, "is_active": False}},
    ]))
    station.engine.run_process(uid, {"radius": 5000, "risk": "high"})
    [run] = station.wait_executions(uid, 1)
    assert run.status == "completed", run.error_message
    first, second, third = station.steps(run.id)
    assert first.result == {"zone": "avalanche", "zones": ["avalanche"], "users": ["Cleo"],
                            "user_uids": [users.find_user("Cleo").uid],
                            "node_ids": ["!0000c0c1", "!0000c0c3"], "count": 1}
    assert second.result["changed"] == ["metadata", "radius_m"]
    assert third.result["is_active"] is False
    stored = station.engine.call(lambda: Zone.get(Zone.uid == zone.uid)).result()
    assert (stored.radius_m, stored.metadata, stored.is_active) == (5000.0, {"risk": "high"},
                                                                    False)
    kinds = station.engine.call(lambda: [(o.kind, o.uid) for o in Outbox.select()]).result()
    assert kinds.count(("zone", zone.uid)) == 3  # created, then two local edits


def test_in_zone_condition_and_zone_seeded_from_known_positions(station: Station) -> None:
    lat, lon = offset(LAT, LON, north_m=40)
    station.call(lambda: Node.create(node_id="!0000d0d1", num=0xD0D1, lat=lat, lon=lon))
    _avalanche(station)  # the node was already there: inside, without an entry event
    uid = station.process({
        "name": "sos in the avalanche zone", "mode": "queued",
        "triggers": [{"trigger_type": "manual"}],
        "actions": [{"action_type": "log", "action_config": {"message": "in zone"},
                     "conditions": {"op": "in_zone", "node": "event.from_id",
                                    "zone": "avalanche"}}]})
    for sender in ("!0000d0d1", "!0000d0d9"):
        station.engine.run_process(uid, {"from_id": sender})
    inside, unknown = station.wait_executions(uid, 2)
    assert station.steps(inside.id)[0].status == "completed"
    [skipped] = station.steps(unknown.id)
    assert skipped.status == "skipped" and "no known position" in skipped.error_message


def test_zone_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIREFLY_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("FIREFLY_STATION_ID", "hut-7")
    assert cli_main(["zone", "add", "avalanche", "--lat", "46.55", "--lon", "7.95",
                     "--radius", "300"]) == 0
    assert cli_main(["zone", "add", "north", "--polygon", "46.6,7.9;46.6,8.0;46.7,8.0",
                     "--margin", "40"]) == 0
    assert cli_main(["zone", "add", "avalanche", "--lat", "1", "--lon", "1",
                     "--radius", "5"]) == 3
    assert cli_main(["zone", "add", "bad", "--lat", "1", "--lon", "1"]) == 2
    capsys.readouterr()
    assert cli_main(["zone", "list", "--json"]) == 0
    listed = {z["name"]: z for z in json.loads(capsys.readouterr().out)}
    assert listed["avalanche"]["radius_m"] == 300.0
    assert listed["north"]["polygon"] == [[46.6, 7.9], [46.6, 8.0], [46.7, 8.0]]
    assert listed["north"]["margin_m"] == 40.0 and listed["north"]["origin"] == "hut-7"
    assert cli_main(["zone", "remove", "Avalanche"]) == 0
    assert cli_main(["zone", "remove", "avalanche"]) == 4
    capsys.readouterr()
    assert cli_main(["zone", "list", "--json"]) == 0
    assert [z["name"] for z in json.loads(capsys.readouterr().out)] == ["north"]
    records = [decode(o.payload) for o in Outbox.select().order_by(Outbox.seq)]
    assert [(kind, body["name"], body["deleted"]) for kind, body, _v in records] == [
        ("zone", "avalanche", False), ("zone", "north", False), ("zone", "avalanche", True)]
    assert all(body["hlc"] for _k, body, _v in records)
