"""Wires the simulator together: mesh, station radios, scenario, clock, control API.

Usable from Python as well as from the command line::

    sim = Simulator(radio_ports=[4403], control=("127.0.0.1", 8765),
                    scenario=load_scenario("firefly_sim/scenarios/demo.toml"))
    sim.start()
    ...
    sim.stop()
"""

from __future__ import annotations

import logging

from firefly_sim.clock import ClockThread, SimClock, TimerQueue
from firefly_sim.control import ControlApi, ControlServer
from firefly_sim.mesh import Mesh
from firefly_sim.model import StationIdentity, default_station_num
from firefly_sim.player import ScenarioPlayer
from firefly_sim.radio_server import RadioServer
from firefly_sim.scenario import Scenario

log = logging.getLogger(__name__)


class Simulator:
    def __init__(
        self,
        radio_ports: list[int],
        control: tuple[str, int],
        scenario: Scenario | None = None,
        speed: float | None = None,
        seed: int | None = None,
        radio_host: str = "127.0.0.1",
    ) -> None:
        if not radio_ports:
            raise ValueError("at least one radio port is required")
        if len(set(radio_ports)) != len(radio_ports):
            raise ValueError("radio ports must be distinct")
        self.scenario = scenario or Scenario()
        effective_speed = speed if speed is not None else self.scenario.speed
        self.clock = SimClock(effective_speed)
        self.timers = TimerQueue()
        self.mesh = Mesh(
            self.scenario.settings,
            self.timers,
            seed=seed if seed is not None else self.scenario.seed,
            telemetry_interval=int(self.scenario.telemetry_interval),
        )
        specs = {s.port: s for s in self.scenario.stations}
        for port in radio_ports:
            spec = specs.get(port)
            num = spec.num if spec and spec.num is not None else default_station_num(port)
            name = spec.name if spec and spec.name else f"Station {port}"
            short = spec.short_name if spec and spec.short_name else f"S{str(port)[-3:]}"
            self.mesh.add_station(
                StationIdentity(
                    port=port,
                    num=num,
                    long_name=name,
                    short_name=short,
                    lat=spec.lat if spec else None,
                    lon=spec.lon if spec else None,
                )
            )
        for port in set(specs) - set(radio_ports):
            log.warning("scenario station on port %d ignored: no --radio-port %d", port, port)
        self.player: ScenarioPlayer | None = None
        if self.scenario.nodes or self.scenario.replies:
            self.player = ScenarioPlayer(self.mesh, self.scenario, self.clock)
            self.player.install()
        self.radios = {port: RadioServer(self.mesh, port, radio_host) for port in radio_ports}
        self.api = ControlApi(self.mesh, self.radios, self.clock.sim_time)
        self.control = ControlServer(self.api, control[0], control[1])
        self._clock_thread = ClockThread(self.timers, self.player.tick if self.player is not None else None)
        self._started: list[RadioServer] = []

    def start(self) -> None:
        """Open every port (raises ``OSError`` if one is taken) and start the threads."""
        try:
            for radio in self.radios.values():
                radio.start()
                self._started.append(radio)
            self.control.start()
        except OSError:
            self.stop()
            raise
        self._clock_thread.start()

    def stop(self) -> None:
        self._clock_thread.stop()
        for radio in self._started:
            radio.stop()
        self._started = []
        try:
            self.control.stop()
        except OSError:
            log.debug("control server already closed")
        if self._clock_thread.is_alive():
            self._clock_thread.join(2.0)
