"""In-process tests of the simulator's parts: framing, ids, scenarios, mesh rules, API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from meshtastic.protobuf import mesh_pb2

from agent.radio.airtime import packet_airtime_ms
from firefly_sim import packets
from firefly_sim.clock import SimClock, TimerQueue
from firefly_sim.control import ApiError, ControlApi
from firefly_sim.framing import FrameDecoder, encode_frame
from firefly_sim.mesh import Mesh, NodeOffline, SimError
from firefly_sim.model import (
    BROADCAST_NUM,
    MeshSettings,
    NodeRefError,
    StationIdentity,
    VirtualNode,
    parse_destination,
    parse_node_ref,
)
from firefly_sim.player import ScenarioPlayer
from firefly_sim.scenario import ScenarioError, interpolate, load_scenario, parse_scenario

DEMO = Path(__file__).resolve().parents[2] / "firefly_sim" / "scenarios" / "demo.toml"


# ------------------------------------------------------------------ framing


def test_frame_roundtrip_with_wake_bytes_and_split_chunks() -> None:
    msg = mesh_pb2.ToRadio(want_config_id=1234)
    stream = bytes([0xC3] * 32) + encode_frame(msg.SerializeToString()) + b"junk"
    stream += encode_frame(mesh_pb2.ToRadio(heartbeat=mesh_pb2.Heartbeat()).SerializeToString())
    decoder = FrameDecoder()
    frames: list[bytes] = []
    for i in range(len(stream)):  # byte by byte
        frames += decoder.feed(stream[i : i + 1])
    assert len(frames) == 2
    assert packets.parse_to_radio(frames[0]).want_config_id == 1234
    assert packets.parse_to_radio(frames[1]).WhichOneof("payload_variant") == "heartbeat"
    assert decoder.skipped_bytes >= 36


def test_frame_decoder_resyncs_after_oversized_header() -> None:
    good = encode_frame(b"\x18\x05")
    decoder = FrameDecoder()
    assert decoder.feed(bytes([0x94, 0xC3, 0x7F, 0xFF]) + good) == [b"\x18\x05"]
    assert decoder.oversized_frames == 1
    with pytest.raises(ValueError):
        encode_frame(b"x" * 513)


# ---------------------------------------------------------------------- ids


def test_node_refs() -> None:
    assert parse_node_ref("!a1b2c3d4") == 0xA1B2C3D4
    assert parse_node_ref("%21a1b2c3d4") == 0xA1B2C3D4
    assert parse_node_ref("2712847316") == 2712847316
    assert parse_node_ref(42) == 42
    assert parse_destination("^all") == BROADCAST_NUM
    for bad in ("a1b2c3d4", "!xyz", "", "!", "0", "!ffffffff", "-5", True):
        with pytest.raises(NodeRefError):
            parse_node_ref(bad)


# ----------------------------------------------------------------- scenario


def test_demo_scenario_loads_and_describes_the_zone() -> None:
    sc = load_scenario(DEMO)
    assert sc.loop and sc.settings.region == "EU_868" and sc.settings.modem_preset == "LONG_FAST"
    assert {n.short_name for n in sc.nodes} >= {"ANNA", "BEA", "CARL", "RLY1"}
    text = DEMO.read_text()
    assert "centre lat 46.6010, lon 7.9200, radius 300 m" in text
    assert any("SOS" in m.text for m in sc.messages)
    assert any(m.text.startswith("OK") for m in sc.messages)
    assert sc.silences and sc.batteries and sc.paths
    bat = sc.batteries[0].points
    assert min(p[1] for p in bat) < 10 and any(10 <= p[1] < 20 for p in bat)
    # Everything scripted happens within the first 60 seconds.
    assert max(m.at for m in sc.messages) <= 60
    assert max(s.end for s in sc.silences) <= 60


def test_demo_path_enters_and_leaves_the_zone() -> None:
    import math

    sc = load_scenario(DEMO)
    path = next(p for p in sc.paths if p.node == 0xB2C3D4E5)

    def dist(lat: float, lon: float) -> float:
        dy = (lat - 46.6010) * 111_195
        dx = (lon - 7.9200) * 111_195 * math.cos(math.radians(46.601))
        return math.hypot(dx, dy)

    inside = [dist(*interpolate(path.points, t)) < 300 for t in range(70)]
    assert not inside[0] and inside[25] and not inside[69]
    assert inside.index(True) < 15


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bogus": 1}, "unknown key"),
        ({"mesh": {"region": "MARS"}}, "mesh.region"),
        ({"mesh": {"modem_preset": "TURBO_MAX"}}, "mesh.modem_preset"),
        ({"nodes": [{"id": "xyz", "name": "A", "lat": 1, "lon": 2}]}, "nodes[0].id"),
        ({"nodes": [{"id": "!00000001", "name": "A", "lat": 100, "lon": 2}]}, "nodes[0].lat"),
        (
            {"messages": [{"at": 1, "from": "!00000009", "text": "hi"}]},
            "unknown node",
        ),
        (
            {
                "nodes": [{"id": "!00000001", "name": "A", "lat": 1, "lon": 2}],
                "messages": [{"at": 1, "from": "!00000001", "text": "x" * 300}],
            },
            "at most 232",
        ),
        (
            {
                "nodes": [{"id": "!00000001", "name": "A", "lat": 1, "lon": 2}],
                "silences": [{"node": "!00000001", "from": 5, "to": 2}],
            },
            "after 'from'",
        ),
        (
            {
                "nodes": [{"id": "!00000001", "name": "A", "lat": 1, "lon": 2}],
                "paths": [{"node": "!00000001", "points": [[0, 1]]}],
            },
            "expected 3 numbers",
        ),
    ],
)
def test_scenario_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)


def test_invalid_toml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_interpolate() -> None:
    pts = [(0.0, 0.0, 10.0), (10.0, 1.0, 20.0)]
    assert interpolate(pts, -1) == (0.0, 10.0)
    assert interpolate(pts, 5) == pytest.approx((0.5, 15.0))
    assert interpolate(pts, 99) == (1.0, 20.0)


# --------------------------------------------------------------------- mesh


class FakeSink:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.closed = False

    def send(self, message: Any) -> None:
        copy = mesh_pb2.FromRadio()
        copy.CopyFrom(message)
        self.messages.append(copy)

    def close(self) -> None:
        self.closed = True

    def of(self, variant: str) -> list[Any]:
        return [m for m in self.messages if m.WhichOneof("payload_variant") == variant]

    def routing(self) -> list[tuple[int, str, int]]:
        out = []
        for m in self.of("packet"):
            if m.packet.decoded.portnum == packets.ROUTING_APP:
                r = mesh_pb2.Routing()
                r.ParseFromString(m.packet.decoded.payload)
                out.append(
                    (
                        m.packet.decoded.request_id,
                        packets.routing_error_name(r.error_reason),
                        getattr(m.packet, "from"),
                    )
                )
        return out


def make_mesh(**settings: Any) -> tuple[Mesh, TimerQueue, FakeSink, FakeSink]:
    timers = TimerQueue()
    mesh = Mesh(MeshSettings(**settings), timers, seed=1)
    mesh.add_station(StationIdentity(5001, 0x46461389, "Station 5001", "S001"))
    mesh.add_station(StationIdentity(5002, 0x4646138A, "Station 5002", "S002"))
    mesh.add_node(VirtualNode(0xA1B2C3D4, "Anna", "ANNA", 46.6, 7.9, battery=50), announce=False)
    a, b = FakeSink(), FakeSink()
    for port, sink in ((5001, a), (5002, b)):
        mesh.attach(port, sink)
        mesh.handle_to_radio(port, sink, mesh_pb2.ToRadio(want_config_id=77))
    return mesh, timers, a, b


def to_radio_text(
    text: str | bytes, to: int = BROADCAST_NUM, want_ack: bool = True, pid: int = 1, channel: int = 0
) -> Any:
    payload = text.encode() if isinstance(text, str) else text
    msg = mesh_pb2.ToRadio()
    msg.packet.to = to
    msg.packet.id = pid
    msg.packet.want_ack = want_ack
    msg.packet.hop_limit = 3
    msg.packet.channel = channel
    msg.packet.decoded.portnum = packets.TEXT_MESSAGE_APP
    msg.packet.decoded.payload = payload
    return msg


def run_timers(timers: TimerQueue, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while len(timers) and time.monotonic() < deadline:
        timers.run_due()
        time.sleep(0.01)


def test_handshake_sequence() -> None:
    _, _, a, _ = make_mesh()
    kinds = [m.WhichOneof("payload_variant") for m in a.messages]
    assert kinds[0] == "my_info" and a.messages[0].my_info.my_node_num == 0x46461389
    assert kinds[1] == "node_info" and a.messages[1].node_info.num == 0x46461389
    assert kinds[-1] == "config_complete_id" and a.messages[-1].config_complete_id == 77
    assert kinds.count("channel") == 8
    nums = {m.node_info.num for m in a.of("node_info")}
    assert nums == {0x46461389, 0x4646138A, 0xA1B2C3D4}
    lora = next(m.config.lora for m in a.of("config") if m.config.HasField("lora"))
    assert lora.hop_limit == 3 and lora.use_preset


@pytest.fixture
def short_rate_limit(monkeypatch: pytest.MonkeyPatch) -> float:
    """Shrink the firmware's 2 s text rate limit so these tests stay fast."""
    monkeypatch.setattr("firefly_sim.mesh.TEXT_RATE_LIMIT_S", 0.2)
    return 0.25


def test_rate_limit_too_large_no_channel_and_queue_status(short_rate_limit: float) -> None:
    mesh, timers, a, b = make_mesh(channels=["", "medics"])
    a.messages.clear()
    mesh.handle_to_radio(5001, a, to_radio_text("first", pid=11))
    mesh.handle_to_radio(5001, a, to_radio_text("second", pid=12))
    assert [m.queueStatus.mesh_packet_id for m in a.of("queueStatus")] == [11, 12]
    assert (12, "RATE_LIMIT_EXCEEDED", 0x46461389) in a.routing()
    run_timers(timers)
    assert (11, "NONE", 0x46461389) in a.routing()  # implicit ACK of the broadcast
    heard = [m.packet for m in b.of("packet") if m.packet.decoded.portnum == packets.TEXT_MESSAGE_APP]
    assert [p.decoded.payload for p in heard] == [b"first"]
    assert getattr(heard[0], "from") == 0x46461389
    items, nxt = mesh.transmissions_json()
    assert nxt == 2
    assert items[0]["outcome"] == "acked" and items[0]["airtime_ms"] == pytest.approx(
        packet_airtime_ms(5, "LONG_FAST"), abs=1e-3
    )
    assert items[1]["outcome"] == "nak" and items[1]["transmitted"] is False

    # Station B: too large (233 bytes of text) and a channel that does not exist.
    mesh.handle_to_radio(5002, b, to_radio_text("x" * 233, pid=21, want_ack=False))
    time.sleep(short_rate_limit)
    mesh.handle_to_radio(5002, b, to_radio_text("hi", pid=22, channel=5))
    assert (21, "TOO_LARGE", 0x4646138A) in b.routing()
    assert (22, "NO_CHANNEL", 0x4646138A) in b.routing()
    assert mesh.transmissions_json(2)[0][0]["error_reason"] == "TOO_LARGE"


def test_dm_to_offline_node_gets_max_retransmit_and_online_node_acks(
    short_rate_limit: float,
) -> None:
    mesh, timers, a, _ = make_mesh(modem_preset="SHORT_TURBO")
    mesh.handle_to_radio(5001, a, to_radio_text("hello Anna", to=0xA1B2C3D4, pid=31))
    run_timers(timers)
    assert (31, "NONE", 0xA1B2C3D4) in a.routing()
    assert mesh.node_json(0xA1B2C3D4)["received"][-1]["text"] == "hello Anna"
    mesh.set_online(0xA1B2C3D4, False)
    time.sleep(short_rate_limit)
    mesh.handle_to_radio(5001, a, to_radio_text("are you there", to=0xA1B2C3D4, pid=32))
    run_timers(timers)
    assert (32, "MAX_RETRANSMIT", 0x46461389) in a.routing()
    with pytest.raises(NodeOffline):
        mesh.send_text(0xA1B2C3D4, "hi")


def test_duty_cycle_limit(short_rate_limit: float) -> None:
    mesh, _timers, a, _ = make_mesh(duty_cycle=0.001)  # 36 ms per hour
    mesh.handle_to_radio(5001, a, to_radio_text("one", pid=41))
    time.sleep(short_rate_limit)
    mesh.handle_to_radio(5001, a, to_radio_text("two", pid=42))
    assert (42, "DUTY_CYCLE_LIMIT", 0x46461389) in a.routing()
    assert "Duty cycle" in a.of("clientNotification")[-1].clientNotification.message


def test_backlog_is_delivered_after_handshake() -> None:
    mesh, _, a, _ = make_mesh()
    mesh.detach(5001, a)
    mesh.send_text(0xA1B2C3D4, "while you were away")
    late = FakeSink()
    mesh.attach(5001, late)
    mesh.handle_to_radio(5001, late, mesh_pb2.ToRadio(want_config_id=5))
    kinds = [m.WhichOneof("payload_variant") for m in late.messages]
    complete = kinds.index("config_complete_id")
    assert late.messages[complete + 1].packet.decoded.payload == b"while you were away"


def test_player_fires_events_and_auto_replies() -> None:
    sc = parse_scenario(
        {
            "speed": 100.0,
            "position_interval": 0,
            "telemetry_interval": 0,
            "nodes": [
                {"id": "!00000001", "name": "One", "lat": 1, "lon": 2, "battery": 50},
                {"id": "!00000002", "name": "Two", "lat": 1, "lon": 2},
            ],
            "messages": [{"at": 1, "from": "!00000001", "text": "SOS"}],
            "silences": [{"node": "!00000002", "from": 0.5, "to": 3}],
            "battery": [{"node": "!00000001", "points": [[0, 50], [2, 10]]}],
            "replies": [{"node": "*", "contains": "check-in", "text": "OK", "delay": 1}],
        }
    )
    timers = TimerQueue()
    mesh = Mesh(sc.settings, timers, seed=3)
    mesh.add_station(StationIdentity(5001, 0x46461389, "Station 5001", "S001"))
    sink = FakeSink()
    mesh.attach(5001, sink)
    mesh.handle_to_radio(5001, sink, mesh_pb2.ToRadio(want_config_id=1))
    player = ScenarioPlayer(mesh, sc, SimClock(100.0))
    player.install()

    def tick_until(cond: Any, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            player.tick()
            timers.run_due()
            if cond():
                return True
            time.sleep(0.002)
        return False

    # Scenario time runs 100x: the whole script takes about 30 ms.
    assert tick_until(lambda: not mesh.is_online(2))  # silence from 0.5 s
    assert tick_until(lambda: b"SOS" in [m.packet.decoded.payload for m in sink.of("packet")])
    assert tick_until(lambda: mesh.node(1).battery == 10)
    assert tick_until(lambda: mesh.is_online(2))  # back at 3 s
    mesh.handle_to_radio(5001, sink, to_radio_text("Check-in: reply OK", want_ack=False, pid=9))
    run_timers(timers, 2.0)
    replies = [
        getattr(m.packet, "from")
        for m in sink.of("packet")
        if m.packet.decoded.payload == b"OK" and m.packet.to == 0x46461389
    ]
    assert sorted(replies) == [1, 2]


# ---------------------------------------------------------------- control API


def test_control_api_validation_without_http() -> None:
    mesh, _, _, _ = make_mesh()
    api = ControlApi(mesh, {})
    status, body = api.handle("GET", "/nodes", {}, {})
    assert status == 200 and body["nodes"][0]["id"] == "!a1b2c3d4"
    status, body = api.handle("GET", "/nodes/%21a1b2c3d4", {}, {})
    assert status == 200 and body["name"] == "Anna"
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/nope", {}, 404),
        ("DELETE", "/nodes", {}, 405),
        ("POST", "/nodes/!zz/text", {"text": "x"}, 400),
        ("POST", "/nodes/!00000099/text", {"text": "x"}, 404),
        ("POST", "/nodes/!a1b2c3d4/text", {}, 400),
        ("POST", "/nodes/!a1b2c3d4/text", {"text": "x", "to": "bob"}, 400),
        ("POST", "/nodes/!a1b2c3d4/text", {"text": "x", "channel": "0"}, 400),
        ("POST", "/nodes/!a1b2c3d4/position", {"lat": 91, "lon": 0}, 400),
        ("POST", "/nodes/!a1b2c3d4/position", {"lat": 45}, 400),
        ("POST", "/nodes/!a1b2c3d4/telemetry", {"battery": 140}, 400),
        ("POST", "/nodes", {"id": "!00000005", "lat": 1, "lon": 1}, 400),
        ("POST", "/nodes", {"id": "!a1b2c3d4", "name": "Dup", "lat": 1, "lon": 1}, 409),
        ("POST", "/radios/1/drop", {}, 404),
    ]
    for method, path, body_in, expected in cases:
        with pytest.raises((ApiError, SimError)) as err:
            api.handle(method, path, {}, body_in)
        status = err.value.status if isinstance(err.value, ApiError | SimError) else 0
        assert status == expected, (method, path, str(err.value))
    with pytest.raises(SimError) as offline:
        mesh.set_online(0xA1B2C3D4, False)
        api.handle("POST", "/nodes/!a1b2c3d4/text", {}, {"text": "hi"})
    assert offline.value.status == 409
