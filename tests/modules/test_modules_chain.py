"""A chain across modules: an SOS text raises a critical alert, which starts a process that
finds the users in the sender's zone and notifies the medics over the mesh."""

from __future__ import annotations

from agent.core.models import Alert, ProcessExecutionLog
from agent.core.station_models import OutboundMessage
from tests.modules.modules_support import Station, offset

RIDGE = (46.60, 8.00)

SOS = {
    "name": "SOS", "mode": "parallel", "max": 20,
    "triggers": [{"trigger_type": "message_received", "trigger_config": {"contains": "sos"}}],
    "actions": [{"action_type": "create_alert", "action_config": {
        "title": "SOS from {{ event.from_name }}", "message": "{{ event.text }}",
        "severity": "critical", "node_id": "{{ event.from_id }}"}}],
}

DISPATCH = {
    "name": "Dispatch medics", "mode": "queued", "max": 20,
    "triggers": [{"trigger_type": "alert_created",
                  "trigger_config": {"min_severity": "critical", "source": "process"}}],
    "actions": [
        {"action_type": "get_users_in_zone", "action_config": {"node_id": "{{ event.node_id }}"}},
        {"action_type": "send_notification", "action_config": {
            "group": "medics", "title": "{{ event.title }}", "priority": "emergency",
            "message": "{{ steps.1.result.zone }}: {{ steps.1.result.count }} people there "
                       "({{ steps.1.result.users | join }})"}},
    ],
}


def _people(station: Station) -> None:
    zones, users = station.modules["zones"], station.modules["users"]
    station.call(lambda: zones.create({"name": "north ridge", "center_lat": RIDGE[0],
                                       "center_lon": RIDGE[1], "radius_m": 1000}))
    station.call(lambda: users.create_group({"name": "medics", "channels": ["mesh", "feed"]}))
    for name, node, north_m, groups in (("Hiker Hal", "!0000c001", 100, []),
                                        ("Ida", "!0000c002", -300, []),
                                        ("Medic Mo", "!0000c003", 5000, ["medics"]),
                                        ("Medic Nia", "!0000c004", 200, ["medics"])):
        station.call(lambda n=name, i=node, g=groups: users.create_user(
            {"name": n, "node_ids": [i], "groups": g}))
        lat, lon = offset(*RIDGE, north_m=north_m)
        station.submit("position_received", {"node_id": node, "lat": lat, "lon": lon})
    station.settle()


def test_sos_text_to_alert_to_users_in_zone_to_medics(station: Station) -> None:
    _people(station)
    sos, dispatch = station.process(SOS), station.process(DISPATCH)
    station.submit("message_received", {"text": "SOS twisted ankle", "from_id": "!0000c001",
                                        "from_name": "Hiker Hal", "channel": 0,
                                        "to_id": "^all", "direct": False},
                   keys=frozenset({"sos"}), triggered_by="!0000c001")
    [raised] = station.wait_executions(sos, 1)
    [dispatched] = station.wait_executions(dispatch, 1)
    assert (raised.status, dispatched.status) == ("completed", "completed")

    [create] = station.steps(raised.id)
    alert = station.engine.call(lambda: Alert.get(Alert.uid == create.result["alert_uid"])) \
        .result()
    assert (alert.severity, alert.title, alert.node_id, alert.zone, alert.process_uid) == \
        ("critical", "SOS from Hiker Hal", "!0000c001", "north ridge", sos)

    # the dispatch was started by that alert, and each step is in its record
    assert dispatched.trigger_event["type"] == "alert_created"
    assert dispatched.trigger_event["data"]["alert_uid"] == alert.uid
    assert dispatched.trigger_event["chain"] == [sos]
    found, notified = station.steps(dispatched.id)
    assert (found.status, notified.status) == ("completed", "completed")
    assert found.result["zone"] == "north ridge"
    assert found.result["users"] == ["Hiker Hal", "Ida", "Medic Nia"]
    assert found.result["count"] == 3
    text = "SOS from Hiker Hal: north ridge: 3 people there (Hiker Hal, Ida, Medic Nia)"
    assert [(r["user"], r["node_id"], r["channel"], r["outcome"])
            for r in notified.result["recipients"]] == [
        ("Medic Mo", "!0000c003", "mesh", "queued"),
        ("Medic Nia", "!0000c004", "mesh", "queued"),
        ("medics", None, "feed", "queued for central")]
    queued = station.engine.call(lambda: sorted(
        (m.destination, m.text, m.priority, m.execution_uid)
        for m in OutboundMessage.select())).result()
    assert queued == [("!0000c003", text, 0, dispatched.uid),
                      ("!0000c004", text, 0, dispatched.uid)]
    log = station.engine.call(lambda: [g.message for g in ProcessExecutionLog.select().where(
        ProcessExecutionLog.execution == dispatched.id).order_by(ProcessExecutionLog.seq)]) \
        .result()
    assert log[0].startswith("triggered by alert_created")
    assert any("step 1 (get_users_in_zone) completed" in line for line in log)
    assert any("step 2 (send_notification) completed" in line for line in log)
