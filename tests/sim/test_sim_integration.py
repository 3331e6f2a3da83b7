"""firefly-sim as a real subprocess, driven through the unmodified meshtastic TCPInterface.

One simulator (three station radios on one mesh, a small quiet scenario on the
SHORT_FAST preset so time on air is short) serves most tests of this module.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from meshtastic.tcp_interface import TCPInterface
from pubsub import pub

from agent.radio.airtime import packet_airtime_ms
from tests.sim_process import SimProcess, start_sim, stop_sim
from tests.support import REPO, free_port, wait_until

ANNA = "!a1b2c3d4"
BOB = "!b0b0b0b0"
PRESET = "SHORT_FAST"

SCENARIO = f"""
name = "integration"
position_interval = 0
telemetry_interval = 0
seed = 7

[mesh]
region = "EU_868"
modem_preset = "{PRESET}"
channels = ["", "medics"]

[[nodes]]
id = "{ANNA}"
name = "Anna Hiker"
short_name = "ANNA"
lat = 46.5912
lon = 7.9077
battery = 78

[[nodes]]
id = "{BOB}"
name = "Bob Relay"
short_name = "BOB"
lat = 46.6
lon = 7.92
battery = 15

[[replies]]
node = "{ANNA}"
contains = "help is coming"
text = "OK, staying put"
delay = 0.2
direct_only = true
"""


# ------------------------------------------------------------------ helpers


def wait_for(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    return wait_until(cond, timeout, interval=0.05, message=what)


def station_num(port: int) -> int:
    return 0x46460000 | (port & 0xFFFF)


class Sim(SimProcess):
    def next_index(self) -> int:
        return int(self.get("/transmissions?since=0")["next"])


@dataclass
class Collector:
    """pubsub listeners (bound methods of a live object: pubsub holds weak refs)."""

    packets: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    lost: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_receive(self, packet: dict[str, Any], interface: Any) -> None:
        with self.lock:
            self.packets.append((interface, packet))

    def on_lost(self, interface: Any, topic: Any = pub.AUTO_TOPIC) -> None:
        with self.lock:
            self.lost.append(interface)

    def of(self, iface: Any, portnum: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                p
                for i, p in self.packets
                if i is iface and (portnum is None or p.get("decoded", {}).get("portnum") == portnum)
            ]

    def routing_for(self, iface: Any, request_id: int) -> dict[str, Any] | None:
        for p in self.of(iface, "ROUTING_APP"):
            if p["decoded"].get("requestId") == request_id:
                return p
        return None


class Pacer:
    """Keeps texts from one interface at least 2.1 s apart (the firmware's limit)."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}

    def wait(self, iface: Any) -> None:
        last = self.last.get(id(iface))
        if last is not None:
            remaining = 2.1 - (time.monotonic() - last)
            if remaining > 0:
                time.sleep(remaining)
        self.last[id(iface)] = time.monotonic()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    pub.subscribe(c.on_receive, "meshtastic.receive")
    pub.subscribe(c.on_lost, "meshtastic.connection.lost")
    yield c
    pub.unsubscribe(c.on_receive, "meshtastic.receive")
    pub.unsubscribe(c.on_lost, "meshtastic.connection.lost")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    tmp = tmp_path_factory.mktemp("sim")
    scenario = tmp / "integration.toml"
    scenario.write_text(SCENARIO)
    s = start_sim(tmp, 3, scenario, cls=Sim)
    yield s
    stop_sim(s)


@pytest.fixture(scope="module")
def ifaces(sim: Sim, collector: Collector) -> Iterator[list[TCPInterface]]:
    opened = [TCPInterface(hostname="127.0.0.1", portNumber=p) for p in sim.ports[:2]]
    yield opened
    for iface in opened:
        iface.close()


@pytest.fixture(scope="module")
def pacer() -> Pacer:
    return Pacer()


# -------------------------------------------------------------------- tests


def test_handshake_populates_nodes_and_my_info(sim: Sim, ifaces: list[TCPInterface]) -> None:
    a, b = ifaces
    assert a.myInfo.my_node_num == station_num(sim.ports[0])
    assert b.myInfo.my_node_num == station_num(sim.ports[1])
    assert ANNA in a.nodes and BOB in a.nodes
    assert a.nodes[ANNA]["user"]["longName"] == "Anna Hiker"
    assert a.nodes[ANNA]["position"]["latitude"] == pytest.approx(46.5912)
    assert a.nodes[BOB]["deviceMetrics"]["batteryLevel"] == 15
    own = a.getMyNodeInfo()
    assert own is not None and own["user"]["longName"] == f"Station {sim.ports[0]}"
    assert f"!{station_num(sim.ports[1]):08x}" in a.nodes  # the other station
    assert a.localNode.localConfig.lora.region == 3  # EU_868
    assert a.localNode.localConfig.lora.hop_limit == 3
    assert a.localNode.getChannelByChannelIndex(1).settings.name == "medics"
    radios = {r["port"]: r for r in sim.get("/radios")["radios"]}
    assert sorted(radios) == sorted(sim.ports)
    assert radios[sim.ports[0]]["num"] == station_num(sim.ports[0])
    assert radios[sim.ports[0]]["configured_clients"] == 1
    assert radios[sim.ports[0]]["name"] == f"Station {sim.ports[0]}"


def test_text_from_virtual_node_arrives(sim: Sim, ifaces: list[TCPInterface], collector: Collector) -> None:
    a, b = ifaces
    res = sim.post(f"/nodes/{ANNA}/text", {"text": "SOS need help", "to": "^all"})
    assert res["heard_by"][:2] == [f"!{station_num(p):08x}" for p in sim.ports[:2]]

    def got(iface: TCPInterface) -> dict[str, Any] | None:
        for p in collector.of(iface, "TEXT_MESSAGE_APP"):
            if p["decoded"].get("text") == "SOS need help":
                return p
        return None

    pkt = wait_for(lambda: got(a), what="the SOS text on station A")
    assert pkt["fromId"] == ANNA and pkt["toId"] == "^all"
    assert pkt["hopStart"] == 3
    assert wait_for(lambda: got(b), what="the SOS text on station B")
    # Percent-encoded "!" and decimal ids address the same node.
    res = sim.post("/nodes/%21a1b2c3d4/text", {"text": "second", "to": f"!{station_num(sim.ports[0]):08x}"})
    assert res["heard_by"] == [f"!{station_num(sim.ports[0]):08x}"]
    status, _ = sim.request("POST", f"/nodes/{0xA1B2C3D4}/telemetry", {"battery": 70})
    assert status == 200


def test_station_text_is_recorded_with_airtime(
    sim: Sim, ifaces: list[TCPInterface], collector: Collector, pacer: Pacer
) -> None:
    a, b = ifaces
    start = sim.next_index()
    pacer.wait(a)
    sent = a.sendText("hello from the hut")
    rec = wait_for(
        lambda: [t for t in sim.transmissions(start) if t["packet_id"] == sent.id], what="transmission"
    )[0]
    assert rec["port"] == sim.ports[0]
    assert rec["from"] == f"!{station_num(sim.ports[0]):08x}"
    assert rec["to"] == "^all" and rec["channel"] == 0
    assert rec["text"] == "hello from the hut" and rec["portnum"] == "TEXT_MESSAGE_APP"
    assert rec["payload_bytes"] == 18
    assert rec["airtime_ms"] == pytest.approx(packet_airtime_ms(18, PRESET), abs=0.01)
    assert rec["want_ack"] is False and rec["outcome"] == "sent" and rec["transmitted"] is True
    # The other station hears it (stations on one mesh hear each other).
    heard = wait_for(
        lambda: [
            p for p in collector.of(b, "TEXT_MESSAGE_APP") if p["decoded"]["text"] == "hello from the hut"
        ],
        what="station B hearing station A",
    )[0]
    assert heard["from"] == station_num(sim.ports[0])
    assert heard["fromId"] == f"!{station_num(sim.ports[0]):08x}"
    # ...and both virtual nodes did.
    assert wait_for(lambda: sim.get(f"/nodes/{ANNA}")["received"])[-1]["text"] == "hello from the hut"
    assert set(wait_for(lambda: sim.transmissions(rec["index"])[0]["delivered_to"])) >= {ANNA, BOB}


def test_second_text_within_2s_gets_rate_limit_nak(
    sim: Sim, ifaces: list[TCPInterface], collector: Collector, pacer: Pacer
) -> None:
    _, b = ifaces
    pacer.wait(b)
    first = b.sendText("first", wantAck=True)
    second = b.sendText("second", wantAck=True)
    pacer.last[id(b)] = time.monotonic()
    nak = wait_for(lambda: collector.routing_for(b, second.id), what="RATE_LIMIT_EXCEEDED NAK")
    assert nak["decoded"]["routing"]["errorReason"] == "RATE_LIMIT_EXCEEDED"
    assert nak["from"] == station_num(sim.ports[1])
    ack = wait_for(lambda: collector.routing_for(b, first.id), what="ACK of the first text")
    assert ack["decoded"]["routing"].get("errorReason", "NONE") == "NONE"
    recs = {t["packet_id"]: t for t in sim.transmissions()}
    assert recs[second.id]["outcome"] == "nak"
    assert recs[second.id]["error_reason"] == "RATE_LIMIT_EXCEEDED"
    assert recs[second.id]["transmitted"] is False
    assert wait_for(lambda: {t["packet_id"]: t for t in sim.transmissions()}[first.id]["outcome"] == "acked")


def test_direct_messages_ack_nak_and_auto_reply(
    sim: Sim, ifaces: list[TCPInterface], collector: Collector, pacer: Pacer
) -> None:
    a, _ = ifaces
    pacer.wait(a)
    dm = a.sendText("Help is coming, stay where you are", destinationId=ANNA, wantAck=True)
    ack = wait_for(lambda: collector.routing_for(a, dm.id), what="ACK from Anna")
    assert ack["fromId"] == ANNA
    assert ack["decoded"]["routing"].get("errorReason", "NONE") == "NONE"
    reply = wait_for(
        lambda: [p for p in collector.of(a, "TEXT_MESSAGE_APP") if p["decoded"]["text"] == "OK, staying put"],
        what="Anna's auto-reply",
    )[0]
    assert reply["fromId"] == ANNA and reply["to"] == station_num(sim.ports[0])

    # A direct message to an offline node: MAX_RETRANSMIT after the retries.
    sim.post(f"/nodes/{BOB}/offline")
    status, err = sim.request("POST", f"/nodes/{BOB}/text", {"text": "hi"})
    assert status == 409 and "offline" in err["error"]
    pacer.wait(a)
    lost = a.sendText("Bob, are you there?", destinationId=BOB, wantAck=True)
    nak = wait_for(lambda: collector.routing_for(a, lost.id), what="MAX_RETRANSMIT NAK")
    assert nak["decoded"]["routing"]["errorReason"] == "MAX_RETRANSMIT"
    sim.post(f"/nodes/{BOB}/online")
    # Back online it reports its position at once.
    assert wait_for(lambda: [p for p in collector.of(a, "POSITION_APP") if p["fromId"] == BOB])


def test_too_large_text_is_refused(
    sim: Sim, ifaces: list[TCPInterface], collector: Collector, pacer: Pacer
) -> None:
    a, _ = ifaces
    pacer.wait(a)
    big = a.sendText("x" * 233, wantAck=True)  # the library allows 233, the firmware not
    nak = wait_for(lambda: collector.routing_for(a, big.id), what="TOO_LARGE NAK")
    assert nak["decoded"]["routing"]["errorReason"] == "TOO_LARGE"


def test_added_node_position_and_telemetry(
    sim: Sim, ifaces: list[TCPInterface], collector: Collector
) -> None:
    a, _ = ifaces
    status, node = sim.request(
        "POST",
        "/nodes",
        {"id": "!0badcafe", "name": "Cara Medic", "short_name": "CARA", "lat": 46.6, "lon": 7.9},
    )
    assert status == 201 and node["id"] == "!0badcafe" and node["battery"] == 100
    wait_for(
        lambda: a.nodes.get("!0badcafe", {}).get("user", {}).get("longName") == "Cara Medic", what="NodeInfo"
    )
    sim.post("/nodes/!0badcafe/position", {"lat": 46.601, "lon": 7.92})
    pos = wait_for(
        lambda: [
            p
            for p in collector.of(a, "POSITION_APP")
            if p["fromId"] == "!0badcafe" and p["decoded"]["position"]["latitudeI"] != 466000000
        ],
        what="the new position",
    )[-1]
    assert pos["decoded"]["position"]["latitudeI"] == 466010000
    assert pos["decoded"]["position"]["longitude"] == pytest.approx(7.92)
    sim.post("/nodes/!0badcafe/telemetry", {"battery": 9, "voltage": 3.4})
    tel = wait_for(
        lambda: [p for p in collector.of(a, "TELEMETRY_APP") if p["fromId"] == "!0badcafe"], what="telemetry"
    )[-1]
    metrics = tel["decoded"]["telemetry"]["deviceMetrics"]
    assert metrics["batteryLevel"] == 9 and metrics["voltage"] == pytest.approx(3.4)
    nodes = {n["id"]: n for n in sim.get("/nodes")["nodes"]}
    assert nodes["!0badcafe"]["battery"] == 9 and nodes["!0badcafe"]["lat"] == 46.601


def test_bad_control_input_gets_json_errors(sim: Sim) -> None:
    cases: list[tuple[str, str, Any, bytes | None, int]] = [
        ("POST", f"/nodes/{ANNA}/text", None, b"{not json", 400),
        ("POST", f"/nodes/{ANNA}/text", None, b"[1, 2]", 400),
        ("POST", f"/nodes/{ANNA}/text", None, b"\xff\xfe", 400),
        ("POST", f"/nodes/{ANNA}/text", None, b"[" * 50_000, 400),
        ("POST", f"/nodes/{ANNA}/text", {"text": ""}, None, 400),
        ("POST", f"/nodes/{ANNA}/text", {"text": "x" * 300}, None, 400),
        ("POST", f"/nodes/{ANNA}/text", {"text": "hi", "channel": 7}, None, 400),
        ("POST", "/nodes/not-an-id/text", {"text": "hi"}, None, 400),
        ("POST", "/nodes/!00000042/text", {"text": "hi"}, None, 404),
        ("POST", "/nodes", {"id": "!00000043", "name": "X", "lat": "north", "lon": 1}, None, 400),
        ("POST", f"/nodes/{ANNA}/position", {"lat": 1e309, "lon": 0}, None, 400),
        ("GET", "/transmissions?since=abc", None, None, 400),
        ("POST", "/radios/notaport/drop", {}, None, 400),
        ("POST", "/radios/1/drop", {}, None, 404),
        ("GET", "/does/not/exist", None, None, 404),
        ("PUT", "/nodes", {}, None, 405),
    ]
    for method, path, body, raw, expected in cases:
        status, data = sim.request(method, path, body, raw)
        assert status == expected, (method, path, data)
        assert isinstance(data.get("error"), str) and data["error"], data
    assert sim.proc.poll() is None
    assert sim.get("/healthz")["ok"] is True


def test_drop_makes_the_library_see_the_connection_drop(sim: Sim, collector: Collector) -> None:
    port = sim.ports[2]
    iface = TCPInterface(hostname="127.0.0.1", portNumber=port)
    try:
        wait_for(lambda: sim.radio(port)["configured_clients"] == 1, what="client")
        res = sim.post(f"/radios/{port}/drop", {"seconds": 2.5})
        assert res["closed"] == 1
        assert sim.radio(port)["listening"] is False
        # The library retries once after 1 s, is refused, and gives up: connection.lost.
        wait_for(lambda: iface in collector.lost, timeout=6, what="meshtastic.connection.lost")
        assert not iface.isConnected.is_set()
        radio = sim.radio(port)
        assert radio["port"] == port and radio["clients"] == 0
    finally:
        iface.close()
    # Once the refusal ends, a new interface connects (the agent's reconnect path).
    wait_for(lambda: sim.radio(port)["listening"], timeout=4, what="the radio to listen again")
    again = TCPInterface(hostname="127.0.0.1", portNumber=port)
    try:
        assert again.myInfo.my_node_num == station_num(port)
        # A drop without refusal: the library reconnects by itself and re-handshakes.
        sim.post(f"/radios/{port}/drop", {})
        wait_for(lambda: sim.radio(port)["configured_clients"] == 1, timeout=5, what="reconnect")
        sim.post(f"/nodes/{ANNA}/text", {"text": "after reconnect"})
        wait_for(
            lambda: [
                p
                for p in collector.of(again, "TEXT_MESSAGE_APP")
                if p["decoded"]["text"] == "after reconnect"
            ],
            what="text after reconnect",
        )
    finally:
        again.close()


def test_demo_scenario_runs(tmp_path: Path, collector: Collector) -> None:
    """The shipped demo at 10x speed: the SOS (t=12 s) arrives within about 1.2 s."""
    demo = start_sim(tmp_path, 1, "demo", ["--speed", "10"])  # built-in scenario name
    iface = None
    try:
        iface = TCPInterface(hostname="127.0.0.1", portNumber=demo.ports[0])
        assert {"!a1b2c3d4", "!b2c3d4e5", "!c3d4e5f6", "!d4e5f6a7", "!e5f6a7b8"} <= set(iface.nodes)
        sos = wait_for(
            lambda: [p for p in collector.of(iface, "TEXT_MESSAGE_APP") if "SOS" in p["decoded"]["text"]],
            timeout=5,
            what="the demo SOS",
        )[0]
        assert sos["fromId"] == "!a1b2c3d4"
        assert collector.of(iface, "POSITION_APP") and collector.of(iface, "TELEMETRY_APP")
    finally:
        if iface is not None:
            iface.close()
        stop_sim(demo)
    assert demo.proc.returncode == 0, demo.log()
    assert "firefly-sim stopped" in demo.log()


def test_bad_scenario_exits_with_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mesh]\nregion = "MARS"\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "firefly_sim",
            "--radio-port",
            str(free_port()),
            "--control",
            "127.0.0.1:0",
            "--scenario",
            str(bad),
        ],
        cwd=REPO,
        capture_output=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert b"mesh.region" in proc.stderr
