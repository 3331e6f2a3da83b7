"""send_notification: mesh direct messages, an MQTT topic, central's feed; outcomes per recipient."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.core.codec import decode
from agent.core.models import Outbox
from agent.core.module_models import Notification
from agent.core.station_models import OutboundMessage
from agent.sync.client import SyncClient
from agent.sync.connection import parse_mqtt_url
from tests.modules.modules_support import STATION, Station, manual
from tests.ops.ops_support import mosquitto, run_as_user_line
from tests.support import free_port, wait_until


def _team(station: Station, channels: list[str]) -> None:
    users = station.modules["users"]
    station.call(lambda: users.create_group({"name": "medics", "channels": channels}))
    station.call(lambda: users.create_user({"name": "Ana", "node_ids": ["!0000aa01", "!0000aa02"],
                                            "groups": ["medics"]}))
    station.call(lambda: users.create_user({"name": "Ben", "node_ids": ["!0000bb01"],
                                            "groups": ["medics"]}))
    station.call(lambda: users.create_user({"name": "Cleo", "groups": ["medics"]}))
    station.call(lambda: users.create_user({"name": "Dan", "node_ids": ["!0000dd01"]}))


def _notify(station: Station, **config: Any) -> dict[str, Any]:
    uid = station.process(manual("notify", [{"action_type": "send_notification",
                                             "action_config": config}]))
    station.engine.run_process(uid, {"who": "Eve"})
    [run] = station.wait_executions(uid, 1)
    assert run.status == "completed", run.error_message
    [step] = station.steps(run.id)
    return dict(step.result)


def test_group_notification_over_mesh_mqtt_and_feed_without_broker(station: Station) -> None:
    _team(station, ["mesh", "mqtt", "feed"])
    result = _notify(station, group="medics", title="SOS", priority="emergency",
                     message="{{ event.who }} needs help at the north ridge")
    topic = f"firefly/v1/stations/{STATION}/out/notifications/group/medics"
    assert result["recipients"] == [
        {"user": "Ana", "node_id": "!0000aa01", "channel": "mesh", "outcome": "queued",
         "radio_ref": result["recipients"][0]["radio_ref"]},
        {"user": "Ana", "node_id": "!0000aa02", "channel": "mesh", "outcome": "queued",
         "radio_ref": result["recipients"][1]["radio_ref"]},
        {"user": "Ben", "node_id": "!0000bb01", "channel": "mesh", "outcome": "queued",
         "radio_ref": result["recipients"][2]["radio_ref"]},
        {"user": "Cleo", "node_id": None, "channel": "mesh", "outcome": "no node, not sent"},
        {"user": "medics", "node_id": None, "channel": "mqtt", "topic": topic,
         "outcome": "mqtt: not connected, queued"},
        {"user": "medics", "node_id": None, "channel": "feed", "outcome": "queued for central"},
    ]
    assert (result["delivered"], result["not_delivered"]) == (4, 2)
    sent = station.engine.call(lambda: sorted(
        (m.destination, m.text, m.priority) for m in OutboundMessage.select())).result()
    text = "SOS: Eve needs help at the north ridge"
    assert sent == [("!0000aa01", text, 0), ("!0000aa02", text, 0), ("!0000bb01", text, 0)]
    row = station.engine.call(lambda: Notification.get(
        Notification.uid == result["notification_uid"])).result()
    assert (row.target, row.mqtt_topic, row.mqtt_status) == ("medics", topic, "queued")
    [(kind, record, _v)] = station.engine.call(lambda: [
        decode(o.payload) for o in Outbox.select().where(Outbox.kind == "notification")]).result()
    assert kind == "notification" and record["uid"] == row.uid
    assert record["recipients"] == result["recipients"] and record["station_id"] == STATION


def test_user_notification_uses_the_users_channels_and_unknown_targets_fail(station: Station) \
        -> None:
    _team(station, ["feed"])
    result = _notify(station, user="Dan", message="check in please")
    assert [(r["channel"], r["node_id"], r["outcome"]) for r in result["recipients"]] == [
        ("mesh", "!0000dd01", "queued")]
    uid = station.process(manual("to nobody", [{"action_type": "send_notification",
                                                "action_config": {"group": "cooks",
                                                                  "message": "x"}}]))
    station.engine.run_process(uid)
    [run] = station.wait_executions(uid, 1)
    assert run.status == "failed" and "no group 'cooks'" in run.error_message


def test_without_a_radio_mesh_outcomes_say_not_sent(station: Station) -> None:
    _team(station, ["mesh"])
    station.modules.pop("radio")
    result = _notify(station, group="medics", message="hello")
    assert {r["outcome"] for r in result["recipients"]} == {"radio: not available, not sent",
                                                          "no node, not sent"}
    assert result["delivered"] == 0


@pytest.mark.broker
def test_mqtt_channel_publishes_through_the_sync_client(station: Station, tmp_path: Path) \
        -> None:
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{run_as_user_line()}",
                      encoding="utf-8")
    with mosquitto(config, [port], tmp_path / "mosquitto.log"):
        url = parse_mqtt_url(f"mqtt://127.0.0.1:{port}")
        assert url is not None
        received: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        subscribed = threading.Event()
        monitor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="monitor")
        monitor.on_message = lambda _c, _u, message: received.put((message.topic,
                                                                   message.payload))
        monitor.on_subscribe = lambda *_args: subscribed.set()
        monitor.connect("127.0.0.1", port)
        monitor.subscribe(f"firefly/v1/stations/{STATION}/out/#", qos=1)
        listener = threading.Thread(target=monitor.loop_forever, daemon=True)
        listener.start()
        assert subscribed.wait(20)
        client = SyncClient(station.engine, url, heartbeat_seconds=3600)
        client.start()
        try:
            wait_until(lambda: station.modules["mqtt"].connected, timeout=20,
                       message="the sync client to connect")
            _team(station, ["mqtt"])
            result = _notify(station, group="medics", title="Drill",
                             message="{{ event.who }} starts the drill")
            [entry] = result["recipients"]
            assert entry["outcome"] == "published"
            topic, payload = received.get(timeout=20)
            message = json.loads(payload)
            assert topic == entry["topic"]
            assert (message["title"], message["message"], message["users"]) == \
                ("Drill", "Eve starts the drill", ["Ana", "Ben", "Cleo"])
            assert message["uid"] == result["notification_uid"]
        finally:
            client.stop()
            client.client._reset_sockets()  # paho leaves loop_start's socket pair open
            monitor.disconnect()
            listener.join(10)
