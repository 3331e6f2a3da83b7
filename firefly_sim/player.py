"""Plays a :class:`Scenario` on a :class:`Mesh`, driven by the clock thread.

On every tick it moves nodes along their paths and drains their batteries
(state only), fires the timed events that are due (texts, start and end of
silences) and sends the periodic position and telemetry reports of the
scenario's nodes.  With ``loop = true`` the scenario restarts every
``period()`` sim seconds from the nodes' initial state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from firefly_sim.clock import SimClock
from firefly_sim.mesh import Mesh, SimError
from firefly_sim.model import BROADCAST_NUM, VirtualNode
from firefly_sim.scenario import NodeSpec, ReplySpec, Scenario, interpolate

log = logging.getLogger(__name__)


@dataclass
class _Event:
    at: float
    kind: str  # "message", "silence_start", "silence_end"
    index: int


@dataclass
class _Periodic:
    node: int
    position_interval: float
    telemetry_interval: float
    next_position: float = 0.0
    next_telemetry: float = 0.0


def node_from_spec(spec: NodeSpec) -> VirtualNode:
    return VirtualNode(
        num=spec.num,
        long_name=spec.name,
        short_name=spec.short_name,
        lat=spec.lat,
        lon=spec.lon,
        altitude=spec.altitude,
        battery=spec.battery,
        voltage=spec.voltage,
        online=spec.online,
        hops=spec.hops,
        role=spec.role,
        hw_model=spec.hw_model,
        snr=spec.snr,
        rssi=spec.rssi,
    )


class ScenarioPlayer:
    def __init__(self, mesh: Mesh, scenario: Scenario, clock: SimClock) -> None:
        self.mesh = mesh
        self.scenario = scenario
        self.clock = clock
        self.cycle = 0
        self._period = scenario.period()
        events: list[_Event] = []
        for i, m in enumerate(scenario.messages):
            events.append(_Event(m.at, "message", i))
        for i, s in enumerate(scenario.silences):
            events.append(_Event(s.start, "silence_start", i))
            events.append(_Event(s.end, "silence_end", i))
        # At equal times, end silences before starting new ones and sending texts.
        order = {"silence_end": 0, "silence_start": 1, "message": 2}
        events.sort(key=lambda e: (e.at, order[e.kind]))
        self._events = events
        self._next_event = 0
        self._order = {spec.num: i for i, spec in enumerate(scenario.nodes)}
        self._periodic: list[_Periodic] = []
        for spec in scenario.nodes:
            pi = spec.position_interval
            ti = spec.telemetry_interval
            self._periodic.append(
                _Periodic(
                    spec.num,
                    scenario.position_interval if pi is None else pi,
                    scenario.telemetry_interval if ti is None else ti,
                )
            )
        self._reset_periodic()

    # -------------------------------------------------------------- lifecycle

    def install(self) -> None:
        """Add the scenario's nodes to the mesh and listen for texts (auto-replies)."""
        for spec in self.scenario.nodes:
            self.mesh.add_node(node_from_spec(spec), announce=False)
        self.mesh.text_listeners.append(self._on_text)
        log.info(
            "scenario %r: %d nodes, period %.1f s, speed %g%s",
            self.scenario.name,
            len(self.scenario.nodes),
            self._period,
            self.clock.speed,
            ", looping" if self.scenario.loop else "",
        )

    def _reset_periodic(self) -> None:
        for i, p in enumerate(self._periodic):
            # Stagger nodes a little so reports do not all arrive in one burst.
            p.next_position = (0.37 * i) % p.position_interval if p.position_interval else 0.0
            p.next_telemetry = (1.0 + 0.53 * i) % p.telemetry_interval if p.telemetry_interval else 0.0

    def _restart(self, cycle: int) -> None:
        log.info("scenario %r: starting pass %d", self.scenario.name, cycle + 1)
        self.cycle = cycle
        self._next_event = 0
        self._reset_periodic()
        with self.mesh.lock:
            for spec in self.scenario.nodes:
                try:
                    node = self.mesh.node(spec.num)
                except SimError:
                    continue
                node.lat, node.lon, node.altitude = spec.lat, spec.lon, spec.altitude
                node.battery, node.voltage = spec.battery, spec.voltage
                self.mesh.set_online(spec.num, spec.online, report=False)

    # ------------------------------------------------------------------ ticks

    def tick(self) -> None:
        t_abs = self.clock.sim_time()
        if self.scenario.loop:
            cycle = int(t_abs // self._period)
            if cycle != self.cycle:
                self._restart(cycle)
            t = t_abs - cycle * self._period
        else:
            t = t_abs
        with self.mesh.lock:
            self._update_state(t)
            self._fire_events(t)
            self._periodic_reports(t)

    def _update_state(self, t: float) -> None:
        for path in self.scenario.paths:
            lat, lon = interpolate(path.points, t)
            try:
                self.mesh.set_position(path.node, lat, lon)
            except SimError:
                continue
        for bat in self.scenario.batteries:
            (pct,) = interpolate(bat.points, t)
            try:
                self.mesh.set_battery(bat.node, round(pct))
            except SimError:
                continue

    def _fire_events(self, t: float) -> None:
        while self._next_event < len(self._events) and self._events[self._next_event].at <= t:
            event = self._events[self._next_event]
            self._next_event += 1
            try:
                if event.kind == "message":
                    m = self.scenario.messages[event.index]
                    if self.mesh.is_online(m.node):
                        self.mesh.send_text(m.node, m.text, m.to, m.channel, m.want_ack)
                    else:
                        log.info("scenario text from offline node !%08x skipped", m.node)
                elif event.kind == "silence_start":
                    self.mesh.set_online(self.scenario.silences[event.index].node, False)
                elif event.kind == "silence_end":
                    num = self.scenario.silences[event.index].node
                    self.mesh.set_online(num, True)  # reports its position at once
                    for p in self._periodic:
                        if p.node == num and p.position_interval:
                            p.next_position = t + p.position_interval
            except SimError as exc:
                log.warning("scenario event %s at %.1f s failed: %s", event.kind, event.at, exc)

    def _periodic_reports(self, t: float) -> None:
        for p in self._periodic:
            if p.position_interval and t >= p.next_position:
                self.mesh.periodic_report(p.node, "position")
                p.next_position += p.position_interval
                if p.next_position <= t:
                    p.next_position = t + p.position_interval
            if p.telemetry_interval and t >= p.next_telemetry:
                self.mesh.periodic_report(p.node, "telemetry")
                p.next_telemetry += p.telemetry_interval
                if p.next_telemetry <= t:
                    p.next_telemetry = t + p.telemetry_interval

    # ------------------------------------------------------------ auto-replies

    def _on_text(self, node: VirtualNode, from_num: int, to_num: int, channel: int, text: str) -> None:
        """A station's text reached ``node``: schedule the first matching reply."""
        lowered = text.lower()
        for spec in self.scenario.replies:
            if spec.node is not None and spec.node != node.num:
                continue
            if spec.direct_only and to_num == BROADCAST_NUM:
                continue
            if spec.contains and spec.contains not in lowered:
                continue
            self._schedule_reply(node.num, spec, from_num, channel)
            return

    def _schedule_reply(self, num: int, spec: ReplySpec, from_num: int, channel: int) -> None:
        dest = from_num if spec.reply_to == "sender" else BROADCAST_NUM

        def reply() -> None:
            try:
                self.mesh.send_text(num, spec.text, dest, channel)
            except SimError as exc:
                log.info("auto-reply from !%08x skipped: %s", num, exc)

        # Several nodes answering the same broadcast do not all transmit at once.
        stagger = 0.5 * self._order.get(num, 0) if spec.node is None else 0.0
        self.mesh.timers.schedule(self.clock.real_delay(spec.delay + stagger), reply)
