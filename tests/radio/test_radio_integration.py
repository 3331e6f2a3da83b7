"""The station against firefly-sim through the real meshtastic TCPInterface.

Each test starts its own simulator (subprocess) and an in-process station whose radio.url is
the simulator's radio port; what the station transmitted is read back from the simulator's
GET /transmissions.
"""

from __future__ import annotations

from typing import Any

from agent.core.models import ProcessExecution, ProcessExecutionStep
from agent.core.station_models import OutboundMessage
from agent.radio.airtime import packet_airtime_ms
from agent.radio.textsplit import split_text
from agent.station import Station
from tests.radio.conftest import ANNA, BOB, CARL, PRESET, Sim, StationFactory, on_engine
from tests.support import wait_until


def process(name: str, trigger_type: str, trigger_config: dict[str, Any],
            *actions: tuple[str, dict[str, Any]], mode: str = "single") -> dict[str, Any]:
    return {"name": name, "mode": mode, "max": 1000,
            "triggers": [{"trigger_type": trigger_type, "trigger_config": trigger_config}],
            "actions": [{"action_type": t, "action_config": c} for t, c in actions]}


def executions(station: Station, trigger_type: str | None = None) -> list[ProcessExecution]:
    def query() -> list[ProcessExecution]:
        rows = ProcessExecution.select().order_by(ProcessExecution.id)
        if trigger_type is not None:
            rows = rows.where(ProcessExecution.trigger_type == trigger_type)
        return list(rows)

    return on_engine(station, query)  # type: ignore[no-any-return]


def count_executions(station: Station) -> int:
    return on_engine(station, lambda: ProcessExecution.select().count())  # type: ignore[no-any-return]


def outbound(station: Station) -> list[OutboundMessage]:
    return on_engine(station, lambda: list(OutboundMessage.select().order_by(OutboundMessage.id)))  # type: ignore[no-any-return]


def pending(station: Station) -> int:
    return on_engine(station, lambda: OutboundMessage.select().where(  # type: ignore[no-any-return]
        OutboundMessage.status == "pending").count())


def step_results(station: Station) -> list[Any]:
    return on_engine(station, lambda: [s.result for s in ProcessExecutionStep.select()
                                       .order_by(ProcessExecutionStep.id)])  # type: ignore[no-any-return]


def texts_to(sim: Sim, destination: str) -> list[str]:
    return [t["text"] for t in sim.texts_sent() if t["to"] == destination and t["transmitted"]]


def test_radio_text_triggers_a_process_and_the_reply_is_acknowledged(
        sim: Sim, station_factory: StationFactory) -> None:
    station = station_factory([process(
        "SOS reply", "message_received", {"contains": ["sos", "help"]},
        ("send_message", {"to": "{{ event.from_id }}", "priority": "emergency",
                          "text": "Help is coming, {{ event.from_name }}"}))])
    sim.text(ANNA, "SOS twisted ankle")
    wait_until(lambda: texts_to(sim, ANNA), 20, message="the reply on air")
    assert texts_to(sim, ANNA) == ["Help is coming, Anna Hiker"]
    (execution,) = executions(station, "message_received")
    event = execution.trigger_event["data"]
    assert (event["text"], event["from_id"], event["from_name"], event["to_id"],
            event["direct"], event["channel"]) == ("SOS twisted ankle", ANNA, "Anna Hiker",
                                                   "^all", False, 0)
    assert isinstance(event["snr"], float) and isinstance(event["rssi"], int)

    def acked() -> Any:
        result = step_results(station)[-1]
        return result if result["messages"][0]["status"] == "acked" else None

    result = wait_until(acked, 20, message="the ACK in the step result")
    assert result["messages"][0]["packet_id"] == sim.texts_sent()[-1]["packet_id"]
    assert outbound(station)[0].status == "acked"
    # The station's own text, echoed back by someone, does not trigger it again.
    sim.text(BOB, "Help is coming, Anna Hiker")
    sim.text(ANNA, "help again")
    wait_until(lambda: len(executions(station, "message_received")) == 2, 20,
               message="the second SOS")
    assert [e.trigger_event["data"]["text"] for e in executions(station, "message_received")] \
        == ["SOS twisted ankle", "help again"]


def test_radio_silent_node_goes_offline_and_comes_back(
        sim: Sim, station_factory: StationFactory) -> None:
    station = station_factory(
        [process("Silent", "user_offline", {"node_id": ANNA},
                 ("log", {"message": "{{ event.name }} silent {{ event.silent_seconds }} s"})),
         process("Back", "user_online", {"node_id": ANNA},
                 ("log", {"message": "{{ event.name }} is back"}))],
        offline_after_seconds=2)
    sim.node(ANNA, "position", {"lat": 46.59, "lon": 7.91})
    nodes = station.services.modules["nodes"]
    wait_until(lambda: on_engine(station, lambda: nodes.get(ANNA)), 10, message="Anna heard")
    sim.node(ANNA, "offline")
    (offline,) = wait_until(lambda: executions(station, "user_offline"), 20,
                            message="user_offline")
    assert offline.trigger_event["data"]["node_id"] == ANNA
    assert offline.trigger_event["data"]["silent_seconds"] >= 2
    assert executions(station, "user_online") == []
    sim.node(ANNA, "online")
    (online,) = wait_until(lambda: executions(station, "user_online"), 20, message="user_online")
    assert online.trigger_event["data"]["name"] == "Anna Hiker"
    assert on_engine(station, lambda: nodes.get(ANNA).online) is True
    assert len(executions(station, "user_offline")) == 1  # only Anna's, only once


def test_radio_long_text_is_split_within_232_bytes_in_order(
        sim: Sim, station_factory: StationFactory) -> None:
    long_text = ("Lawinenwarnung Stufe 4 oberhalb 2000 m: Hänge über 30° meiden, "
                 "Rückzug über die Südroute 🏔️. ") * 6
    station = station_factory([process(
        "Bulletin", "message_received", {"command": "!bulletin"},
        ("send_message", {"to": "^all", "text": long_text}))])
    sim.text(BOB, "!BULLETIN please")
    expected = split_text(long_text)
    assert len(expected) >= 3
    parts = wait_until(lambda: (lambda t: t if len(t) >= len(expected) else None)(
        texts_to(sim, "^all")), 30, message="every part on air")
    assert parts == expected  # in order, each with its (i/n) marker
    assert all(len(p.encode("utf-8")) <= 232 for p in parts)
    assert "".join(p.split(" ", 1)[1] for p in parts) == long_text
    assert all(t["payload_bytes"] <= 232 and t["transmitted"] for t in sim.texts_sent())
    assert len(executions(station, "message_received")) == 1


def test_radio_storm_stays_within_the_airtime_budget_and_does_not_loop(
        sim: Sim, station_factory: StationFactory) -> None:
    reply = "SOS received - stay where you are"
    one = packet_airtime_ms(len(reply), PRESET)
    percent = one * 3.5 / 3_600_000 * 100  # a budget of three replies per hour
    station = station_factory([process(
        "SOS drill", "message_received", {"contains": "sos"},
        ("send_message", {"to": "{{ event.from_id }}", "text": reply}),
        ("send_message", {"to": "^all", "text": "SOS from {{ event.from_name }}: {{ event.text }}"}),
    )], duty_cycle_percent=percent)
    senders = [ANNA, BOB, CARL]
    for i in range(500):
        sim.text(senders[i % 3], f"SOS test {i}")
    wait_until(lambda: count_executions(station) >= 500, 120, interval=0.25,
               message="500 executions")
    wait_until(lambda: pending(station) == 0, 60, interval=0.25, message="the queue to drain")
    runs = executions(station)
    assert len(runs) == 500 and all(r.status == "completed" for r in runs)  # no loop
    on_air = [t for t in sim.texts_sent() if t["transmitted"]]
    budget_ms = percent / 100 * 3_600_000
    assert 0 < sum(t["airtime_ms"] for t in on_air) <= budget_ms
    rows = outbound(station)
    statuses = {row.status for row in rows}
    assert "over_budget" in statuses and statuses <= {"sent", "acked", "over_budget"}
    # What was not sent is in the step results, never silently dropped.
    results = [r for r in step_results(station) if r]
    counted = sum(1 for r in results for m in r["messages"] if m["status"] == "over_budget")
    assert counted == sum(1 for row in rows if row.status == "over_budget") > 0
    coalesced = sum(1 for r in results for m in r["messages"] if m["status"] == "coalesced")
    assert len(rows) + coalesced == 1000  # every requested text is a row or coalesced


def test_radio_dropped_mid_run_reconnects_and_loses_no_queued_text(
        sim: Sim, station_factory: StationFactory) -> None:
    texts = [f"Check-in round {i}: reply OK" for i in range(5)]
    station = station_factory([process(
        "Check-in", "message_received", {"command": "!checkin"},
        *[("send_message", {"to": "^all", "text": t}) for t in texts])])
    sim.text(BOB, "!checkin")
    wait_until(lambda: texts_to(sim, "^all"), 20, message="the first text on air")
    sim.post(f"/radios/{sim.radio_port}/drop", {"seconds": 3})
    radio = station.services.modules["radio"]
    wait_until(lambda: not radio.status()["connected"] or radio.status()["reconnect_count"], 20,
               message="the drop to be noticed")
    wait_until(lambda: radio.status()["reconnect_count"] >= 1 and radio.status()["connected"],
               30, message="the reconnection")
    wait_until(lambda: len(set(texts_to(sim, "^all"))) == len(texts), 40,
               message="every queued text on air")
    assert set(texts_to(sim, "^all")) == set(texts)
    assert pending(station) == 0


def test_radio_mesh_commands_are_refused_to_strangers_and_run_for_the_authorised(
        sim: Sim, station_factory: StationFactory) -> None:
    evac = process("Evac North", "manual", {"allow_mesh": True},
                   ("send_message", {"to": "^all",
                                     "text": "Evacuate north now ({{ event.args | first }})"}))
    secret = process("Secret", "manual", {}, ("log", {"message": "not from the mesh"}))
    station = station_factory([evac, secret], command_nodes=[BOB])
    me = sim.station_id()
    sim.text(CARL, "!run evac-north", to=me)
    sim.text(CARL, "!run evac-north", to=me)
    sim.text(BOB, "!status", to=me)
    status = wait_until(lambda: texts_to(sim, BOB), 30, message="the status reply")
    assert status[0].startswith("test-station: radio up")
    assert texts_to(sim, CARL) == ["test-station: not authorised for commands"]  # once
    sim.text(BOB, "!run evac-north fire", to=me)
    wait_until(lambda: "Evacuate north now (fire)" in texts_to(sim, "^all"), 30,
               message="the process's broadcast")
    (run,) = executions(station, "manual")
    assert run.trigger_event["data"]["args"] == ["fire"]
    assert run.trigger_event["data"]["from_id"] == BOB and run.triggered_by == BOB
    assert run.trigger_event["source"] == "mesh-command"
    wait_until(lambda: any("started, execution" in t for t in texts_to(sim, BOB)), 30,
               message="the confirmation")
    sim.text(BOB, "!run secret", to=me)
    wait_until(lambda: "!run Secret: not allowed from the mesh" in texts_to(sim, BOB), 30,
               message="the refusal of a process without allow_mesh")
    assert len(executions(station, "manual")) == 1
    assert texts_to(sim, CARL) == ["test-station: not authorised for commands"]
