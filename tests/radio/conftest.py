"""Fixtures for the radio tests: firefly-sim as a subprocess and a station connected to it.

The station runs in-process (agent.station.Station) with ``radio.url`` pointing at the
simulator's radio port, so the radio path is the real meshtastic TCPInterface over TCP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, EngineSection, RadioSection, StationSection
from agent.core.models import database
from agent.processes import save_process
from agent.station import Station
from tests.sim_process import SimProcess, start_sim, stop_sim
from tests.support import wait_until

ANNA = "!a1b2c3d4"
BOB = "!b0b0b0b0"
CARL = "!c0c0c0c0"
PRESET = "SHORT_FAST"  # short time on air keeps the tests quick

SCENARIO = f"""
name = "radio-tests"
position_interval = 0
telemetry_interval = 0
seed = 3

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
name = "Bob Lead"
short_name = "BOB"
lat = 46.6
lon = 7.92

[[nodes]]
id = "{CARL}"
name = "Carl Stranger"
short_name = "CARL"
lat = 46.61
lon = 7.93
"""


class Sim(SimProcess):
    """The simulator with one station radio (``radio_port``) and the scenario's nodes."""

    @property
    def radio_port(self) -> int:
        return self.ports[0]

    def text(self, node: str, text: str, to: str = "^all", channel: int = 0) -> Any:
        return self.post(f"/nodes/{node.replace('!', '%21')}/text",
                         {"text": text, "to": to, "channel": channel})

    def node(self, node: str, action: str, body: Any = None) -> Any:
        return self.post(f"/nodes/{node.replace('!', '%21')}/{action}", body)

    def texts_sent(self) -> list[dict[str, Any]]:
        """What the station's radio was asked to send (texts only)."""
        return [t for t in self.transmissions()
                if t["port"] == self.radio_port and t["portnum"] == "TEXT_MESSAGE_APP"]

    def received_by(self, node: str) -> list[dict[str, Any]]:
        return list(self.get(f"/nodes/{node.replace('!', '%21')}")["received"])

    def station_id(self) -> str:
        return str(self.radio(self.radio_port)["id"])


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    started = start_sim(tmp_path, 1, scenario, cls=Sim)
    try:
        yield started
    finally:
        stop_sim(started)


def radio_config(tmp_path: Path, sim: Sim, **radio: Any) -> AgentConfig:
    settings: dict[str, Any] = {"url": f"tcp://127.0.0.1:{sim.radio_port}",
                                "modem_preset": PRESET, "send_interval_seconds": 2.1}
    settings.update(radio)
    return AgentConfig(
        station=StationSection(id="test-station", db=str(tmp_path / "station.db")),
        engine=EngineSection(rate_limit_per_minute=10_000),
        radio=replace(RadioSection(), **settings),
    )


StationFactory = Callable[..., Station]


@pytest.fixture
def station_factory(tmp_path: Path, sim: Sim) -> Iterator[StationFactory]:
    """Start a station connected to the simulator; stopped at the end of the test."""
    started: list[Station] = []

    def start(processes: list[dict[str, Any]] = (), **radio: Any) -> Station:  # type: ignore[assignment]
        station = Station(radio_config(tmp_path, sim, **radio), with_scheduler=False)
        for definition in processes:
            save_process(definition)
        station.start()
        started.append(station)
        radio_module = station.services.modules["radio"]
        wait_until(lambda: radio_module.status()["connected"], 30.0,
                   message="the station's radio to connect")
        return station

    yield start
    for station in started:
        station.stop()
    if not database.is_closed():
        database.close()


def on_engine(station: Station, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the station's engine thread (the database's one writer) and wait."""
    return station.engine.call(fn).result(timeout=30)
