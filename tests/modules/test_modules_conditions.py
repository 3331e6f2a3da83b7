"""Domain conditions over the radio's node data: node_online and battery_below."""

from __future__ import annotations

from agent.core.station_models import Node
from tests.modules.modules_support import Station


def test_node_online_and_battery_below(station: Station) -> None:
    station.call(lambda: Node.create(node_id="!0000b001", num=0xB001, online=True,
                                     battery_level=15))
    station.call(lambda: Node.create(node_id="!0000b002", num=0xB002, online=False,
                                     battery_level=80))
    station.call(lambda: Node.create(node_id="!0000b003", num=0xB003, online=True))
    uid = station.process({
        "name": "relay check", "mode": "queued", "max": 10,
        "triggers": [{"trigger_type": "manual"}],
        "actions": [
            {"action_type": "log", "action_config": {"message": "online"},
             "conditions": {"op": "node_online", "node": "event.node"}},
            {"action_type": "log", "action_config": {"message": "offline"},
             "conditions": {"op": "node_online", "node": "event.node", "value": False}},
            {"action_type": "log", "action_config": {"message": "low battery"},
             "conditions": {"op": "battery_below", "node": "event.node", "percent": 20}},
        ]})
    for node in ("!0000b001", "!0000b002", "!0000b003", "!0000b0ff"):
        station.engine.run_process(uid, {"node": node})
    runs = station.wait_executions(uid, 4)
    statuses = [[s.status for s in station.steps(r.id)] for r in runs]
    assert statuses == [["completed", "skipped", "completed"],
                        ["skipped", "completed", "skipped"],
                        ["completed", "skipped", "skipped"],
                        ["skipped", "completed", "skipped"]]
    # no battery level known: "cannot evaluate" is said, not a silent false
    unknown = station.steps(runs[2].id)[2]
    assert "no battery level known for !0000b003" in unknown.error_message
