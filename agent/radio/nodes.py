"""Nodes heard on the mesh: last heard, telemetry, positions, online and offline.

Module hooks, run on the engine thread inside its transaction (see Services.observe). The
library has no "node offline" event and updates its own last-heard only for some packets, so
the station keeps its own clock: every packet from a node (``node_heard``) refreshes
``nodes.last_heard``; a periodic sweep (``engine.call_later``) marks nodes not heard for
``radio.offline_after_seconds`` offline.

Events it causes (all with ``keys={node_id}``, ``triggered_by=node_id``):

- ``node_first_heard`` the first packet ever from a node (the users module registers it);
- ``position_received`` a position (the zones module derives zone_entry/zone_exit);
- ``telemetry_received`` battery level and voltage;
- ``user_online`` a node marked offline is heard again; ``user_offline`` from the sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from agent.core.models import database, utcnow
from agent.core.station_models import Node, Position
from agent.engine.context import Services
from agent.engine.events import Event
from agent.radio.packets import normalise_node

_LOG = logging.getLogger(__name__)

POSITION_HISTORY = 500  # positions kept per node
PRUNE_EVERY = 25  # positions between two prunes of a node's history
SOURCE = "module:radio"


class NodeStore:
    """The geolocation store and the online/offline state of every node heard."""

    def __init__(self, offline_after_seconds: float = 2700.0,
                 history: int = POSITION_HISTORY) -> None:
        self.offline_after_seconds = offline_after_seconds
        self.history = history
        self._since_prune: dict[str, int] = {}
        self._engine: Any = None
        self._sweeping = False

    def register(self, services: Services) -> None:
        services.observe("node_heard", self.on_heard)
        services.modules["nodes"] = self
        services.modules.setdefault("geo", self)

    # -- hooks (engine thread, in a transaction) -----------------------------------------------

    def on_heard(self, event: Event) -> list[Event]:
        data = event.data
        node_id, num = str(data["from_id"]), int(data["from_num"])
        now = utcnow()
        node = Node.get_or_none(Node.node_id == node_id)
        first = node is None
        if node is None:
            node = Node(node_id=node_id, num=num, first_heard=now, online=True)
        previous_heard = node.last_heard
        was_offline = not first and not node.online
        node.last_heard, node.online = now, True
        for key in ("snr", "rssi", "hops"):
            if data.get(key) is not None:
                setattr(node, key, data[key])
        user = data.get("user") or {}
        if user.get("long_name"):
            node.long_name = user["long_name"]
        elif not node.long_name and data.get("from_name"):
            node.long_name = data["from_name"]  # from the radio's node database
        if user.get("short_name"):
            node.short_name = user["short_name"]
        telemetry = data.get("telemetry")
        previous_battery = node.battery_level
        if telemetry:
            if telemetry.get("battery") is not None:
                node.battery_level = telemetry["battery"]
            if telemetry.get("voltage") is not None:
                node.voltage = telemetry["voltage"]
            node.telemetry_at = now
        position = data.get("position")
        previous_position = (node.lat, node.lon)
        if position:
            node.lat, node.lon, node.position_at = position["lat"], position["lon"], now
        node.save()

        events: list[Event] = []
        base = {"node_id": node_id, "num": num, "name": node.long_name or node.short_name
                or node_id, "user_uid": node.user_uid}
        if first:
            events.append(self._event("node_first_heard", node_id, {
                **base, "long_name": node.long_name, "short_name": node.short_name,
                "first_heard": now.isoformat()}))
        if was_offline:
            events.append(self._event("user_online", node_id, {
                **base, "last_heard": previous_heard.isoformat(),
                "offline_seconds": round((now - previous_heard).total_seconds(), 1)}))
        if position:
            Position.create(node_id=node_id, lat=position["lat"], lon=position["lon"],
                            altitude=position.get("altitude"), at=now)
            self._maybe_prune(node_id)
            events.append(self._event("position_received", node_id, {
                **base, "lat": position["lat"], "lon": position["lon"],
                "altitude": position.get("altitude"), "at": now.isoformat(),
                "prev_lat": previous_position[0], "prev_lon": previous_position[1]}))
        if telemetry:
            events.append(self._event("telemetry_received", node_id, {
                **base, "battery": node.battery_level, "voltage": node.voltage,
                "prev_battery": previous_battery}))
        return events

    @staticmethod
    def _event(kind: str, node_id: str, data: dict[str, Any]) -> Event:
        return Event(type=kind, data=data, source=SOURCE, time=time.time(),
                     keys=frozenset({node_id}), triggered_by=node_id)

    def _maybe_prune(self, node_id: str) -> None:
        count = self._since_prune.get(node_id, 0) + 1
        self._since_prune[node_id] = count
        if count < PRUNE_EVERY:
            return
        self._since_prune[node_id] = 0
        keep_from = (Position.select(Position.id).where(Position.node_id == node_id)
                     .order_by(Position.id.desc()).offset(self.history - 1).limit(1).scalar())
        if keep_from is not None:
            Position.delete().where((Position.node_id == node_id)
                                    & (Position.id < keep_from)).execute()

    # -- the offline sweep (engine thread) -------------------------------------------------

    def sweep_interval(self) -> float:
        return max(1.0, min(60.0, self.offline_after_seconds / 4.0))

    def start_sweep(self, engine: Any, offline_after_seconds: float | None = None) -> None:
        """Run the offline sweep periodically on the engine thread (call from any thread)."""
        if offline_after_seconds is not None:
            self.offline_after_seconds = offline_after_seconds
        self._engine = engine
        if not self._sweeping:
            self._sweeping = True
            engine.call(self._sweep_and_reschedule)

    def stop_sweep(self) -> None:
        self._sweeping = False

    def _sweep_and_reschedule(self) -> None:
        if not self._sweeping:
            return
        try:
            with database.atomic():
                events = self.sweep()
            self._engine.deliver(events)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            _LOG.exception("offline sweep failed")
        finally:
            self._engine.call_later(self.sweep_interval(), self._sweep_and_reschedule)

    def sweep(self, now: dt.datetime | None = None) -> list[Event]:
        """Mark nodes not heard for ``offline_after_seconds`` offline; their user_offline events."""
        now = now or utcnow()
        cutoff = now - dt.timedelta(seconds=self.offline_after_seconds)
        silent = list(Node.select().where(Node.online & (Node.last_heard < cutoff)))
        events = []
        for node in silent:
            node.online = False
            node.save(only=[Node.online])
            events.append(self._event("user_offline", node.node_id, {
                "node_id": node.node_id, "num": node.num,
                "name": node.long_name or node.short_name or node.node_id,
                "user_uid": node.user_uid, "last_heard": node.last_heard.isoformat(),
                "silent_seconds": round((now - node.last_heard).total_seconds(), 1),
                "battery": node.battery_level}))
        if events:
            _LOG.info("offline sweep: %d node(s) went offline", len(events))
        return events

    # -- queries (engine thread, or any thread with its own connection) --------------------

    def get(self, node_id: str) -> Node | None:
        return Node.get_or_none(Node.node_id == node_id.lower())  # type: ignore[no-any-return]

    def find(self, ref: str) -> Node | None:
        """A node by id (``!a1b2c3d4``), number, long name or short name (case-insensitive)."""
        text = ref.strip()
        if text.startswith("!"):
            return self.get(text)
        if text.isdigit():
            return Node.get_or_none(Node.num == int(text))  # type: ignore[no-any-return]
        folded = text.casefold()
        for node in Node.select():
            if folded in ((node.long_name or "").casefold(), (node.short_name or "").casefold()):
                return node  # type: ignore[no-any-return]
        return None

    def resolve(self, ref: str) -> str | None:
        """A node id for ``ref``: a known node (by id, number or name), or any valid node id
        or number (a node not heard yet); None when it names nothing."""
        node = self.find(ref)
        return str(node.node_id) if node is not None else normalise_node(ref)

    def last_position(self, node_id: str) -> tuple[float, float] | None:
        node = self.get(node_id)
        if node is None or node.lat is None or node.lon is None:
            return None
        return float(node.lat), float(node.lon)

    def counts(self) -> dict[str, int]:
        known = Node.select().count()
        online = Node.select().where(Node.online).count()
        return {"known": known, "online": online}
