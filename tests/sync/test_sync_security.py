"""The broker's ACL and central's checks against a station that misbehaves (real Mosquitto,
real central; the misbehaving station is a raw paho client with a station's credentials)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from agent.core.codec import encode
from agent.sync import protocol
from tests.sync.sync_support import (
    Field,
    Mosquitto,
    Raw,
    central_rows,
    prefill_station,
    sqlite_rows,
)

pytestmark = pytest.mark.broker


def test_the_acl_keeps_each_station_to_its_own_topics(raw: Callable[[str], Raw]) -> None:
    mallory, victim = raw("st-mallory"), raw("st-victim")
    victim.subscribe(protocol.station_topic("st-victim", "down/#"))
    mallory.subscribe(protocol.station_topic("st-victim", "down/#"))  # granted, never fed
    own = protocol.up_topic("st-mallory", protocol.BATCH)
    assert mallory.publish(own, b"x") in (0, 16)  # success / no matching subscribers
    # Another station's uplink, a station's own downlink, another's downlink: refused (135).
    for topic in (protocol.up_topic("st-victim", protocol.BATCH),
                  protocol.down_topic("st-mallory", protocol.CHANGES),
                  protocol.down_topic("st-victim", protocol.COMMAND),
                  protocol.central_status_topic("central-1")):
        assert mallory.publish(topic, b"forged") == 135, topic
    central = raw("central")
    central.publish(protocol.down_topic("st-victim", protocol.ACK), b"for the victim")
    assert victim.received("down/ack") == [b"for the victim"]
    assert mallory.received("st-victim", timeout=1.0) == []


def test_forged_replayed_and_malformed_messages_are_refused(tmp_path: Path, broker: Mosquitto,
                                                            raw: Callable[[str], Raw]) -> None:
    field = Field(tmp_path, broker, "st-d", f"sqlite:///{tmp_path / 'central.db'}")
    prefill_station(field.db, "st-d", 8)
    rows = [(s, k, u, bytes(p)) for s, k, u, p in sqlite_rows(
        field.db, "SELECT seq, kind, uid, payload FROM outbox ORDER BY seq")]
    batch = encode("batch", {"station": "st-d", "inc": "inc-d", "from": 1, "records": [
        {"seq": s, "kind": k, "uid": u, "payload": p} for s, k, u, p in rows]})
    field.start_central()
    try:
        station = raw("st-d")
        station.subscribe(protocol.down_topic("st-d", protocol.ACK))
        station.subscribe(f"{protocol.CENTRAL_STATUS}/+")  # wait for central's ingest
        assert b'"online"' in b"".join(station.received("central/status", timeout=30))
        topic = protocol.up_topic("st-d", protocol.BATCH)
        junk = [b"\x00\xff not msgpack", msgpack.packb({"v": 7, "t": "batch", "b": {}}),
                encode("batch", {"station": "st-other", "inc": "i", "from": 1, "records": []}),
                encode("batch", {"station": "st-d", "inc": 5, "from": 1, "records": []}),
                encode("ack", {"station": "st-d", "inc": "i", "upto": 9, "last": 9})]
        for payload in junk:
            station.publish(topic, payload)
        # The same batch, delivered twice (and a third time later: a replay).
        station.publish(topic, batch)
        station.publish(topic, batch)
        acks = [msgpack.unpackb(a)["b"] for a in station.received("down/ack")]
        assert len(acks) == 2 and {a["upto"] for a in acks} == {rows[-1][0]}
        station.publish(topic, batch)
        assert [msgpack.unpackb(a)["b"]["upto"] for a in station.received("down/ack")] == \
            [rows[-1][0]]
        executions = central_rows(field.central_url,
                                  "SELECT uid, COUNT(*) FROM process_executions "
                                  "WHERE station_id = 'st-d' GROUP BY uid")
        assert len(executions) == 8 and {n for _u, n in executions} == {1}
        reasons = [r for (r,) in central_rows(field.central_url,
                                             "SELECT reason FROM sync_dead_letters")]
        assert len(reasons) == len(junk), reasons
        for expected in ("not msgpack", "unsupported schema version 7",
                         "does not match the topic's station", "batch.inc: expected str",
                         "a 'ack' message on a 'batch' topic"):
            assert any(expected in r for r in reasons), (expected, reasons)
        view = field.api("GET", "/api/stations/st-d")
        assert view["dead_letters"] == len(junk)
        assert len(view["recent_dead_letters"]) == len(junk)
        assert field.central is not None and field.central.alive()
    finally:
        field.stop_all()
