"""``?protocol=3.1.1``: a real MQTT 3.1.1 connection with a persistent session (Mosquitto)."""

from __future__ import annotations

import queue
import re

import paho.mqtt.client as mqtt
import pytest

from agent.sync.connection import MqttUrl, connect, make_client, parse_mqtt_url
from tests.support import wait_until
from tests.sync.sync_support import Mosquitto

pytestmark = pytest.mark.broker

DOWN = "firefly/v1/stations/st01/down/command"


def started(url: MqttUrl, client_id: str, *, subscribe: str | None = None) \
        -> tuple[mqtt.Client, queue.SimpleQueue[tuple[str, bytes]]]:
    received: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
    connected: queue.SimpleQueue[str] = queue.SimpleQueue()
    client = make_client(url, client_id)

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if subscribe is not None:
            c.subscribe(subscribe, qos=1)
        connected.put(str(reason))

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: received.put((m.topic, bytes(m.payload)))
    connect(client, url, clean_start=True, session_expiry=0)
    client.loop_start()
    assert connected.get(timeout=20) == "Success"
    return client, received


def stopped(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_a_3_1_1_connection_keeps_its_session_while_away(broker: Mosquitto) -> None:
    station_url = parse_mqtt_url(broker.url("st01") + "?protocol=3.1.1")
    central_url = parse_mqtt_url(broker.url("central"))  # MQTT 5, the default
    assert station_url is not None and central_url is not None
    station, _ = started(station_url, "st01", subscribe="firefly/v1/stations/st01/down/#")
    stopped(station)
    # Mosquitto logs each CONNECT: p2 is MQTT 3.1.1 (p5: 5), c0 a persistent session (clean_session
    # false, even though connect() was asked for a clean start, which is MQTT 5 only).
    log = broker.directory / "mosquitto.log"
    assert re.search(r"as st01 \(p2, c0, k30, u'st01'\)", log.read_text()), log.read_text()

    central, _ = started(central_url, "central-test")
    central.publish(DOWN, b"while you were away", qos=1).wait_for_publish(10)
    stopped(central)
    assert re.search(r"as central-test \(p5, c1, k30, u'central'\)", log.read_text())

    station, received = started(station_url, "st01")  # no new subscription: the session's
    try:
        assert wait_until(lambda: not received.empty(), timeout=20,
                          message="the queued message") is True
        assert received.get() == (DOWN, b"while you were away")
    finally:
        stopped(station)
