"""Unit tests of the radio's pure parts and of the outbound queue on a real database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, RadioSection, StationSection
from agent.core.models import database, utcnow
from agent.core.station_models import Node, OutboundMessage, Position
from agent.engine.events import Event
from agent.radio.airtime import packet_airtime_ms
from agent.radio.budget import AirtimeBudget
from agent.radio.nodes import NodeStore
from agent.radio.outqueue import Job, OutQueue, QueueSettings
from agent.radio.packets import (
    Deduper,
    RecentTexts,
    RoutingOutcome,
    normalise_node,
    parse_packet,
)
from agent.radio.url import parse_radio_url
from agent.settings import ConfigError
from agent.station import Station
from agent.triggers.message_received import MessageReceivedTrigger
from tests.support import free_port, wait_until

MY_NUM = 0x46460001
ANNA_NUM = 0xA1B2C3D4


# -- radio URLs ------------------------------------------------------------------------------

def test_radio_urls_name_their_transport() -> None:
    assert parse_radio_url("none") is None
    serial = parse_radio_url("serial:///dev/ttyUSB0")
    assert serial is not None and (serial.transport, serial.target) == ("serial", "/dev/ttyUSB0")
    tcp = parse_radio_url("tcp://meshtasticd.local")
    assert tcp is not None and (tcp.transport, tcp.target, tcp.port) == ("tcp", "meshtasticd.local",
                                                                          4403)
    tcp = parse_radio_url("tcp://127.0.0.1:14403")
    assert tcp is not None and tcp.port == 14403
    ble = parse_radio_url("ble://AA:BB:CC:DD:EE:FF")
    assert ble is not None and (ble.transport, ble.target) == ("ble", "AA:BB:CC:DD:EE:FF")


@pytest.mark.parametrize("url", ["/dev/ttyUSB0", "udp://host", "tcp://", "tcp://host:99999",
                                 "tcp://host/path"])
def test_bad_radio_urls_are_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^radio\.url: "):
        parse_radio_url(url)


# -- airtime budget --------------------------------------------------------------------------

def test_budget_rolls_over_the_hour_and_refunds() -> None:
    budget = AirtimeBudget(1000.0)
    budget.spend(600.0, 0.0, "a")
    assert budget.fits(400.0, 10.0)
    assert not budget.fits(401.0, 10.0)
    assert budget.seconds_until_fits(500.0, 10.0) == pytest.approx(3590.0)
    assert budget.refund("a") == 600.0
    assert budget.used_ms(10.0) == 0.0
    budget.spend(900.0, 100.0, "b")
    assert budget.used_ms(3699.0) == 900.0
    assert budget.used_ms(3700.0) == 0.0  # one hour later it no longer counts
    assert budget.seconds_until_fits(1001.0, 0.0) is None


# -- packets -> events -----------------------------------------------------------------------

def text_packet(text: str, *, to: int = 0xFFFFFFFF, from_num: int = ANNA_NUM, pid: int = 7,
                **extra: Any) -> dict[str, Any]:
    packet = {"from": from_num, "to": to, "id": pid, "fromId": None,
              "decoded": {"portnum": "TEXT_MESSAGE_APP", "payload": text.encode(), "text": text},
              "rxTime": 1_700_000_000, "rxSnr": 7.5, "rxRssi": -80, "hopLimit": 1, "hopStart": 3}
    packet.update(extra)
    return packet


def test_a_text_becomes_node_heard_and_message_received_with_every_field() -> None:
    parsed = parse_packet(text_packet("SOS need help", channel=1), my_num=MY_NUM,
                          names={ANNA_NUM: "Anna Hiker"})
    heard, message = parsed.events
    assert heard.type == "node_heard" and heard.data["from_id"] == "!a1b2c3d4"
    assert message.type == "message_received"
    assert message.data == {
        "text": "SOS need help", "from_id": "!a1b2c3d4", "from_name": "Anna Hiker",
        "from_num": ANNA_NUM, "to_id": "^all", "direct": False, "channel": 1, "snr": 7.5,
        "rssi": -80, "hops": 2, "packet_id": 7, "rx_time": 1_700_000_000.0}
    assert message.keys == frozenset({"sos"})
    assert message.triggered_by == "!a1b2c3d4" and message.source == "radio"


def test_proto3_defaults_and_unknown_senders_are_handled() -> None:
    packet = text_packet("hi", to=MY_NUM)
    del packet["hopLimit"], packet["rxSnr"]  # omitted when 0 / absent
    (_heard, message) = parse_packet(packet, my_num=MY_NUM).events
    assert message.data["channel"] == 0 and message.data["direct"] is True
    assert message.data["hops"] == 3 and message.data["snr"] is None
    assert message.data["from_name"] == "!a1b2c3d4"  # fromId None: the id from the number


@pytest.mark.parametrize("packet", [None, "x", {}, {"from": "a"}, {"from": -1},
                                    {"from": 1, "decoded": "junk"},
                                    {"from": 1, "decoded": {"portnum": 5}}])
def test_malformed_packets_never_raise(packet: Any) -> None:
    parsed = parse_packet(packet, my_num=MY_NUM)
    assert all(e.type == "node_heard" for e in parsed.events)


def test_own_duplicate_and_echoed_packets_trigger_nothing() -> None:
    assert parse_packet(text_packet("mine", from_num=MY_NUM), my_num=MY_NUM).events == []
    dedupe = Deduper()
    assert len(parse_packet(text_packet("a"), my_num=MY_NUM, dedupe=dedupe).events) == 2
    assert parse_packet(text_packet("a"), my_num=MY_NUM, dedupe=dedupe).events == []
    recent = RecentTexts()
    recent.add("Help is coming")
    events = parse_packet(text_packet("Help is coming", pid=8), my_num=MY_NUM,
                          is_echo=recent.contains).events
    assert [e.type for e in events] == ["node_heard"]


def test_commands_to_the_station_are_mesh_commands_not_messages() -> None:
    (_heard, command) = parse_packet(text_packet("!run Evac-North now", to=MY_NUM),
                                     my_num=MY_NUM).events
    assert command.type == "mesh_command"
    assert (command.data["command"], command.data["args"]) == ("run", ["Evac-North", "now"])
    broadcast = parse_packet(text_packet("!run x"), my_num=MY_NUM).events
    assert broadcast[1].type == "message_received"  # only direct messages are commands


def test_routing_outcomes_positions_and_telemetry() -> None:
    nak = {"from": MY_NUM, "to": MY_NUM, "id": 9, "decoded": {
        "portnum": "ROUTING_APP", "requestId": 1234,
        "routing": {"errorReason": "RATE_LIMIT_EXCEEDED"}}}
    parsed = parse_packet(nak, my_num=MY_NUM)
    assert parsed.routing == RoutingOutcome(1234, "RATE_LIMIT_EXCEEDED", MY_NUM)
    assert parsed.events == []
    ack = {"from": ANNA_NUM, "to": MY_NUM, "id": 10, "decoded": {
        "portnum": "ROUTING_APP", "requestId": 1234, "routing": {}}}
    assert parse_packet(ack, my_num=MY_NUM).routing == RoutingOutcome(1234, "NONE", ANNA_NUM)
    position = {"from": ANNA_NUM, "to": 0xFFFFFFFF, "id": 11, "decoded": {
        "portnum": "POSITION_APP", "position": {"latitudeI": 465912000, "longitudeI": 79077000,
                                                "altitude": 1020}}}
    (heard,) = parse_packet(position, my_num=MY_NUM).events
    assert heard.data["position"]["lat"] == pytest.approx(46.5912)
    no_fix = {**position, "id": 12, "decoded": {"portnum": "POSITION_APP", "position": {}}}
    assert "position" not in parse_packet(no_fix, my_num=MY_NUM).events[0].data
    telemetry = {"from": ANNA_NUM, "to": 0xFFFFFFFF, "id": 13, "decoded": {
        "portnum": "TELEMETRY_APP",
        "telemetry": {"deviceMetrics": {"batteryLevel": 18, "voltage": 3.6}}}}
    (heard,) = parse_packet(telemetry, my_num=MY_NUM).events
    assert heard.data["telemetry"] == {"battery": 18, "voltage": 3.6}


# -- the message_received trigger ------------------------------------------------------------

def message(text: str, **data: Any) -> Event:
    base = {"text": text, "from_id": "!a1b2c3d4", "from_name": "Anna Hiker", "direct": False,
            "channel": 0}
    base.update(data)
    return Event(type="message_received", data=base)


def trigger(**config: Any) -> MessageReceivedTrigger:
    return MessageReceivedTrigger(config, process_uid="p", trigger_uid="t")


def test_trigger_filters() -> None:
    assert trigger(contains=["sos", "help"]).matches(message("I need HELP"))
    assert not trigger(contains="sos").matches(message("all fine"))
    assert not trigger(contains="SOS", case_sensitive=True).matches(message("sos"))
    assert trigger(regex=r"\bsos\b").matches(message("SOS now"))
    assert not trigger(regex=r"^sos$").matches(message("sos now"))
    assert trigger(command="!sos").matches(message("!SOS at the hut"))
    assert not trigger(command="!sos").matches(message("!sosx"))
    assert trigger(**{"from": ["Anna Hiker"]}).matches(message("x"))
    assert not trigger(**{"from": ["!b0b0b0b0"]}).matches(message("x"))
    assert not trigger(channel=1).matches(message("x"))
    assert not trigger(direct_only=True).matches(message("x"))
    assert trigger(direct_only=True).matches(message("x", direct=True))
    with pytest.raises(ValueError, match="regex"):
        trigger(regex="(")


def test_command_triggers_are_indexed_by_their_lowercase_word() -> None:
    assert trigger(command="!SOS").index_keys() == frozenset({"!sos"})
    assert trigger(contains="sos").index_keys() is None


def test_node_references() -> None:
    assert normalise_node("!A1B2C3D4") == "!a1b2c3d4"
    assert normalise_node("a1b2c3d4") == "!a1b2c3d4"
    assert normalise_node(str(ANNA_NUM)) == "!a1b2c3d4"
    assert normalise_node("anna") is None


# -- the outbound queue on a real database ---------------------------------------------------

PRESET = "LONG_FAST"


def queue(budget_ms: float = 360_000.0) -> OutQueue:
    return OutQueue(QueueSettings(modem_preset=PRESET, budget_ms=budget_ms,
                                  send_interval_seconds=2.5, want_ack=True))


def take(q: OutQueue) -> Job:
    job = q.take_next()
    assert isinstance(job, Job), f"nothing to send: wait {job}"
    return job


def test_long_texts_are_split_and_parts_go_out_in_order(station_db: Path) -> None:
    q = queue()
    entries = q.enqueue(destination="^all", text="word " * 100)
    assert [e["part"] for e in entries] == [1, 2, 3] and all(e["bytes"] <= 232 for e in entries)
    assert all(e["status"] == "pending" and e["want_ack"] is False for e in entries)
    first = take(q)
    assert first.text.startswith("(1/3) ")
    assert not isinstance(q.take_next(), Job)  # part 2 waits until part 1 is sent
    q.mark_sent(first.uid, 101)
    assert take(q).text.startswith("(2/3) ")


def test_emergencies_go_first_and_identical_texts_coalesce(station_db: Path) -> None:
    q = queue()
    q.enqueue(destination="!a1b2c3d4", text="routine")
    again = q.enqueue(destination="!a1b2c3d4", text="routine")
    assert again[0]["status"] == "coalesced"
    q.enqueue(destination="!a1b2c3d4", text="SOS reply", priority=0)
    assert take(q).text == "SOS reply"
    assert OutboundMessage.select().count() == 2


def test_budget_refuses_what_does_not_fit_and_keeps_a_reserve(station_db: Path) -> None:
    one = packet_airtime_ms(len("hello 0"), PRESET)
    q = queue(budget_ms=one * 5.5)  # 90 % of it (non-emergency share): 4 texts
    results = [q.enqueue(destination="^all", text=f"hello {i}")[0]["status"] for i in range(6)]
    assert results == ["pending"] * 4 + ["over_budget"] * 2
    over = OutboundMessage.get(OutboundMessage.text == "hello 5")
    assert over.status == "over_budget" and "airtime budget" in over.outcome
    assert q.enqueue(destination="^all", text="SOS 0", priority=0)[0]["status"] == "pending"


def test_sending_spends_and_retryable_naks_refund_and_back_off(station_db: Path) -> None:
    q = queue()
    q.enqueue(destination="!a1b2c3d4", text="hello")
    job = take(q)
    assert q.budget.used_ms(job_time()) == pytest.approx(job.airtime_ms)
    q.mark_sent(job.uid, 555)
    q.on_routing(RoutingOutcome(555, "RATE_LIMIT_EXCEEDED", MY_NUM))
    row = OutboundMessage.get(OutboundMessage.uid == job.uid)
    assert row.status == "pending" and row.send_after > utcnow()
    assert q.budget.used_ms(job_time()) == 0.0
    assert not isinstance(q.take_next(), Job)  # backing off
    row.send_after = utcnow()
    row.save()
    again = take(q)
    q.mark_sent(again.uid, 556)
    q.on_routing(RoutingOutcome(556, "NONE", ANNA_NUM))
    assert OutboundMessage.get(OutboundMessage.uid == job.uid).status == "acked"


def test_a_nak_arriving_before_the_send_is_recorded_still_counts(station_db: Path) -> None:
    q = queue()
    q.enqueue(destination="!a1b2c3d4", text="hello")
    job = take(q)
    q.on_routing(RoutingOutcome(777, "MAX_RETRANSMIT", ANNA_NUM))
    q.mark_sent(job.uid, 777)
    row = OutboundMessage.get(OutboundMessage.uid == job.uid)
    assert (row.status, row.outcome) == ("failed", "MAX_RETRANSMIT")
    # The firmware transmitted it three times before giving up: the budget is charged so.
    assert q.budget.used_ms(job_time()) == pytest.approx(3 * job.airtime_ms)


def test_unsent_texts_stay_and_old_ones_expire(station_db: Path) -> None:
    q = queue()
    q.enqueue(destination="^all", text="keep me", ttl_seconds=60)
    job = take(q)
    q.mark_unsent(job.uid, "radio not connected")
    assert take(q).uid == job.uid  # still there, sent again
    q.mark_unsent(job.uid, "radio not connected")
    later = utcnow() + dt.timedelta(seconds=61)
    assert not isinstance(q.take_next(later), Job)
    row = OutboundMessage.get(OutboundMessage.uid == job.uid)
    assert row.status == "expired" and "time to live" in row.outcome


def job_time() -> float:
    return utcnow().replace(tzinfo=dt.UTC).timestamp()


# -- nodes: last heard, positions, offline sweep ---------------------------------------------

def heard(**data: Any) -> Event:
    base = {"from_id": "!a1b2c3d4", "from_num": ANNA_NUM, "snr": 5.0, "rssi": -90, "hops": 1}
    base.update(data)
    return Event(type="node_heard", data=base)


def test_nodes_first_heard_positions_bounded_offline_and_back(station_db: Path) -> None:
    store = NodeStore(offline_after_seconds=60, history=30)
    first = store.on_heard(heard(user={"long_name": "Anna Hiker", "short_name": "ANNA"}))
    assert [e.type for e in first] == ["node_first_heard"]
    assert first[0].data["long_name"] == "Anna Hiker"
    for i in range(60):
        events = store.on_heard(heard(position={"lat": 46.0 + i / 1000, "lon": 7.9}))
        assert [e.type for e in events] == ["position_received"]
    assert Position.select().count() <= 30 + 25
    assert store.last_position("!a1b2c3d4") == pytest.approx((46.059, 7.9))
    telemetry = store.on_heard(heard(telemetry={"battery": 15, "voltage": 3.5}))
    assert telemetry[0].type == "telemetry_received" and telemetry[0].data["battery"] == 15
    assert Node.get().battery_level == 15
    assert store.sweep() == []
    offline = store.sweep(utcnow() + dt.timedelta(seconds=61))
    assert [(e.type, e.data["node_id"]) for e in offline] == [("user_offline", "!a1b2c3d4")]
    assert store.sweep(utcnow() + dt.timedelta(seconds=120)) == []  # once
    back = store.on_heard(heard())
    assert [e.type for e in back] == ["user_online"]


# -- a station whose radio is not there -----------------------------------------------------

def test_absent_radio_is_retried_reported_and_texts_wait(tmp_path: Path) -> None:
    config = AgentConfig(station=StationSection(id="lonely", db=str(tmp_path / "s.db")),
                         radio=replace(RadioSection(), url=f"tcp://127.0.0.1:{free_port()}"))
    station = Station(config, with_scheduler=False)
    station.start()
    try:
        radio = station.services.modules["radio"]
        status = wait_until(lambda: (lambda s: s if s["connect_failures"] >= 2 else None)(
            radio.status()), 15, message="two connection attempts")
        assert status["connected"] is False and "Refused" in status["last_error"]
        entries = station.engine.call(lambda: radio.enqueue(
            destination="^all", text="waiting for the radio")).result(10)
        assert entries[0]["status"] == "pending"
    finally:
        station.stop()
        if not database.is_closed():
            database.close()
