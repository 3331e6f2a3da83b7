"""The wire protocol: topics, message checks, URLs, watermarks (pure functions)."""

from __future__ import annotations

import re

import msgpack
import pytest

from agent.core.codec import encode
from agent.settings import ConfigError
from agent.sync import protocol
from agent.sync.connection import parse_mqtt_url
from central.sync.ingest import merge_range, received


def batch_body(station: str = "st01", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"station": station, "inc": "inc-1", "from": 1, "records": [
        {"seq": 1, "kind": "execution", "uid": "u1", "payload": encode("execution", {})}]}
    body.update(extra)
    return body


def test_topics_round_trip_and_name_their_station() -> None:
    topic = protocol.up_topic("st01", protocol.BATCH)
    assert topic == "firefly/v1/stations/st01/up/batch"
    assert protocol.parse_station_topic(topic) == ("st01", "up/batch")
    assert protocol.down_topic("st-2", protocol.COMMAND) == "firefly/v1/stations/st-2/down/command"
    for bad in ("st/01", "st+", "#", "", "x" * 65):
        with pytest.raises(protocol.ProtocolError):
            protocol.station_topic(bad, "status")
    assert all(f.startswith("$share/central/firefly/v1/stations/+/")
               for f in protocol.central_subscriptions())


def test_a_valid_batch_decodes() -> None:
    topic = protocol.up_topic("st01", protocol.BATCH)
    station, kind, body = protocol.decode_message(
        topic, protocol.encode_message(protocol.BATCH, batch_body()))
    assert (station, kind, body["records"][0]["seq"]) == ("st01", "batch", 1)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\xc1\xc1 not msgpack", "not msgpack"),
    (msgpack.packb([1, 2, 3]), "not a map"),
    (msgpack.packb({"v": 99, "t": "batch", "b": {}}), "unsupported schema version 99"),
    (msgpack.packb({"v": "1", "t": "batch", "b": {}}), "unsupported schema version"),
    (encode("ack", {"station": "st01", "inc": "i", "upto": 1, "last": 1}),
     "a 'ack' message on a 'batch' topic"),
    (encode("batch", batch_body(station="st02")), "does not match the topic's station"),
    (encode("batch", batch_body(inc=7)), "batch.inc: expected str"),
    (encode("batch", batch_body(**{"from": True})), "batch.from: expected an integer"),
    (encode("batch", batch_body(records="many")), "batch.records: expected list"),
    (encode("batch", batch_body(records=[{"seq": 1, "kind": "execution", "uid": "u",
                                          "payload": "text, not bytes"}])),
     "batch.records[0].payload: expected bytes"),
    (encode("batch", batch_body(records=[{"seq": 1, "kind": "virus", "uid": "u",
                                          "payload": b""}])), "unknown kind 'virus'"),
    (encode("batch", batch_body(records=[
        {"seq": 2, "kind": "alert", "uid": "a", "payload": b""},
        {"seq": 2, "kind": "alert", "uid": "b", "payload": b""}])), "must be increasing"),
    (b"\x00" * (protocol.MAX_MESSAGE_BYTES + 1), "is over"),
])
def test_malformed_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    topic = protocol.up_topic("st01", protocol.BATCH)
    with pytest.raises(protocol.ProtocolError, match=re.escape(reason)):
        protocol.decode_message(topic, payload)


def test_a_deeply_nested_payload_is_refused_not_crashing() -> None:
    payload = msgpack.packb({"v": 1, "t": "batch", "b": {"x": 1}})
    bomb = b"\x91" * 200_000 + b"\x90"  # 200,000 nested one-element arrays
    for data in (payload, bomb):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode_message(protocol.up_topic("st01", protocol.BATCH), data)


def test_status_and_heartbeat_are_plain_json_with_a_version() -> None:
    body = protocol.decode_json(protocol.status_payload("st01", "offline"), ("state",))
    assert body == {"v": 1, "station": "st01", "state": "offline"}
    with pytest.raises(protocol.ProtocolError, match="version"):
        protocol.decode_json(b'{"v": 2, "state": "online"}', ("state",))
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        protocol.decode_json(b"\xff\xfe", ("state",))


def test_mqtt_urls_are_read_in_one_place() -> None:
    url = parse_mqtt_url("mqtt://st%2001:p%40ss@broker.example:1884")
    assert url is not None
    assert (url.host, url.port, url.username, url.password, url.tls) == \
        ("broker.example", 1884, "st 01", "p@ss", False)
    assert "p@ss" not in url.safe
    tls = parse_mqtt_url("mqtts://st01:pw@broker?ca=/etc/firefly/ca.crt")
    assert tls is not None and (tls.port, tls.tls, tls.ca_file) == (8883, True,
                                                                     "/etc/firefly/ca.crt")
    assert parse_mqtt_url("none") is None
    for bad, reason in (("http://x", "scheme"), ("mqtt://", "no host"),
                        ("mqtt://h?ca=/x", "TLS files"), ("mqtts://h?cert=/c", "both cert"),
                        ("mqtts://h?colour=red", "unknown URL parameter")):
        with pytest.raises(ConfigError, match=reason):
            parse_mqtt_url(bad)


def test_mqtt_url_protocol_parameter_picks_the_mqtt_version() -> None:
    default = parse_mqtt_url("mqtt://st01@broker:1884")
    assert default is not None and (default.protocol, default.mqtt5) == ("5", True)
    assert "protocol" not in default.safe
    explicit = parse_mqtt_url("mqtt://st01@broker:1884?protocol=5")
    assert explicit is not None and explicit.mqtt5
    old = parse_mqtt_url("mqtts://st01:pw@broker?ca=/etc/firefly/ca.crt&protocol=3.1.1")
    assert old is not None and (old.protocol, old.mqtt5, old.tls) == ("3.1.1", False, True)
    assert old.safe == "mqtts://st01@broker:8883?protocol=3.1.1"
    for bad in ("3.1", "4", "v5", "5.0", "MQTTv311"):
        with pytest.raises(ConfigError, match=r"mqtt\.url: unknown MQTT protocol .* in "
                                              r"\?protocol= \(expected 5 or 3\.1\.1\)"):
            parse_mqtt_url(f"mqtt://broker?protocol={bad}")


def test_watermark_advances_only_over_contiguous_ranges() -> None:
    upto, rest = merge_range(0, [], 201, 400)  # the second batch overtook the first
    assert (upto, rest) == (0, [[201, 400]])
    assert received(300, upto, rest) and not received(100, upto, rest)
    upto, rest = merge_range(upto, rest, 601, 800)
    assert (upto, rest) == (0, [[201, 400], [601, 800]])
    upto, rest = merge_range(upto, rest, 1, 200)
    assert (upto, rest) == (400, [[601, 800]])
    upto, rest = merge_range(upto, rest, 401, 600)
    assert (upto, rest) == (800, [])
    assert merge_range(800, [], 1, 200) == (800, [])  # a re-sent batch changes nothing
