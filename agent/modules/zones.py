"""Zones: named circles and polygons, and who is inside them (zone_entry / zone_exit).

Positions come from the radio's geolocation store as ``position_received`` events; the hook
``on_position`` compares each with every active zone. Hysteresis keeps GPS jitter at an edge
from flapping: a node enters when it is inside by more than the zone's margin (default 25 m)
and leaves when it is outside by more than the margin; in between, its state does not change.
The state per (zone, node) is kept in ``zone_presence`` and written only on a change, so a
node standing still costs no writes. A zone created or reshaped takes the nodes' last known
positions as their state, silently: only crossings raise events.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from agent.core.ids import HybridClock
from agent.core.module_models import ZONE_SHAPES, Zone, ZonePresence
from agent.core.station_models import Node
from agent.engine.events import Event
from agent.modules import fleet
from agent.modules.fleet import InvalidRecord, NotFound
from agent.modules.geo import (
    Circle,
    GeometryError,
    Polygon,
    Shape,
    check_circle,
    valid_point,
)

_LOG = logging.getLogger(__name__)

DEFAULT_MARGIN_M = 25.0
MAX_MARGIN_M = 10_000.0


def zone_key(name: str) -> str:
    """The index key of a zone name (zone triggers and events are keyed by it)."""
    return name.strip().casefold()


@dataclass(frozen=True)
class Crossing:
    zone: Zone
    entered: bool
    distance_m: float


class ZoneService:
    """Zones of this station and their presence state. Runs on the engine thread (hooks,
    actions) or in a command-line process; every write is in the caller's transaction."""

    def __init__(self, station_id: str, clock: HybridClock, modules: dict[str, Any], *,
                 outbox: bool = True) -> None:
        self.station_id = station_id
        self.clock = clock
        self.modules = modules  # services.modules, for the users module
        self.outbox = outbox  # False at central: its changes go down by its own feed
        self._shapes: dict[str, tuple[str, Shape]] = {}  # uid -> (hlc, shape)

    # -- records -----------------------------------------------------------------------------

    def find(self, ref: str | int) -> Zone:
        return fleet.find(Zone, ref, what="zone")

    def list_zones(self, *, active_only: bool = False) -> list[Zone]:
        query = fleet.live(Zone)
        if active_only:
            query = query.where(Zone.is_active == True)  # noqa: E712
        return list(query.order_by(Zone.name))

    def create(self, data: dict[str, Any], *, origin: str | None = None) -> Zone:
        """A new zone from ``data`` (see ``set_fields``); raises InvalidRecord."""
        zone = Zone(margin_m=DEFAULT_MARGIN_M, metadata={})
        self.set_fields(zone, data, creating=True)
        fleet.save_local(zone, self.clock, origin or self.station_id, outbox=self.outbox)
        self.seed_presence(zone)
        return zone

    def update(self, zone: Zone, changes: dict[str, Any], *, origin: str | None = None) -> Zone:
        """Change some fields; a new shape or a deactivation resets the zone's presence."""
        before = (zone.shape, zone.center_lat, zone.center_lon, zone.radius_m, zone.polygon,
                  zone.is_active)
        self.set_fields(zone, changes, creating=False)
        fleet.save_local(zone, self.clock, origin or self.station_id, outbox=self.outbox)
        after = (zone.shape, zone.center_lat, zone.center_lon, zone.radius_m, zone.polygon,
                 zone.is_active)
        if before != after:
            self.seed_presence(zone)
        return zone

    def delete(self, zone: Zone, *, origin: str | None = None) -> None:
        zone.deleted = True
        zone.is_active = False
        fleet.save_local(zone, self.clock, origin or self.station_id, outbox=self.outbox)
        ZonePresence.delete().where(ZonePresence.zone_uid == zone.uid).execute()

    def set_fields(self, zone: Zone, data: dict[str, Any], *, creating: bool) -> None:
        """Validate and set: name, shape (circle: center_lat, center_lon, radius_m; polygon:
        polygon [[lat, lon], ...]), margin_m, is_active, metadata. ``lat``/``lon`` are
        accepted for center_lat/center_lon. Raises InvalidRecord naming the field."""
        if not isinstance(data, dict):
            raise InvalidRecord("a zone is a JSON object")
        known = {"name", "shape", "center_lat", "center_lon", "lat", "lon", "radius_m",
                 "polygon", "margin_m", "is_active", "metadata"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRecord(f"{unknown[0]}: unknown field")
        if creating or "name" in data:
            zone.name = fleet.check_name(Zone, data.get("name"), what="zone",
                                         exclude_uid=None if creating else zone.uid)
        lat = data.get("center_lat", data.get("lat"))
        lon = data.get("center_lon", data.get("lon"))
        shape = data.get("shape") or ("polygon" if "polygon" in data else
                                      "circle" if "radius_m" in data or lat is not None
                                      else None)
        if shape is None and creating:
            raise InvalidRecord("shape: give radius_m with center_lat/center_lon, or polygon")
        if shape is not None and shape not in ZONE_SHAPES:
            raise InvalidRecord(f"shape: must be one of {', '.join(ZONE_SHAPES)}")
        extra = [k for k in (("center_lat", "center_lon", "lat", "lon", "radius_m")
                             if shape == "polygon" else ("polygon",) if shape == "circle" else ())
                 if k in data]
        if extra:
            raise InvalidRecord(f"{extra[0]}: not part of a {shape} zone")
        try:
            if shape == "circle":
                circle = check_circle(
                    lat if lat is not None else zone.center_lat,
                    lon if lon is not None else zone.center_lon,
                    data.get("radius_m", zone.radius_m))
                zone.shape, zone.center_lat, zone.center_lon = "circle", circle.lat, circle.lon
                zone.radius_m, zone.polygon = circle.radius_m, None
            elif shape == "polygon":
                polygon = Polygon.of(data.get("polygon", zone.polygon or []))
                zone.shape, zone.polygon, zone.radius_m = "polygon", \
                    [list(v) for v in polygon.vertices], None
                zone.center_lat, zone.center_lon = polygon.plane.lat0, polygon.plane.lon0
        except GeometryError as exc:
            raise InvalidRecord(str(exc)) from None
        if "margin_m" in data:
            margin = data["margin_m"]
            if isinstance(margin, bool) or not isinstance(margin, int | float) \
                    or not 0 <= margin <= MAX_MARGIN_M:
                raise InvalidRecord(f"margin_m: must be a number of metres in [0, {MAX_MARGIN_M:g}]")
            zone.margin_m = float(margin)
        if "is_active" in data:
            if not isinstance(data["is_active"], bool):
                raise InvalidRecord("is_active: must be true or false")
            zone.is_active = data["is_active"]
        if "metadata" in data:
            zone.metadata = fleet.check_metadata(data["metadata"])

    # -- geometry ----------------------------------------------------------------------------

    def shape(self, zone: Zone) -> Shape:
        cached = self._shapes.get(zone.uid)
        if cached is not None and cached[0] == zone.hlc:
            return cached[1]
        shape: Shape
        if zone.shape == "polygon":
            shape = Polygon.of(zone.polygon or [])
        else:
            shape = Circle(zone.center_lat, zone.center_lon, float(zone.radius_m or 0.0))
        self._shapes[zone.uid] = (zone.hlc, shape)
        return shape

    def _margin(self, zone: Zone, shape: Shape) -> float:
        margin = float(zone.margin_m if zone.margin_m is not None else DEFAULT_MARGIN_M)
        if isinstance(shape, Circle):  # a small circle must still be enterable
            margin = min(margin, shape.radius_m / 2)
        return margin

    def signed_distance(self, zone: Zone, lat: float, lon: float) -> float | None:
        try:
            return self.shape(zone).signed_distance_m(lat, lon)
        except (GeometryError, TypeError, ValueError):
            _LOG.warning("zone %s has an unusable shape; ignored", zone.name)
            return None

    # -- presence ----------------------------------------------------------------------------

    def on_position(self, event: Event) -> list[Event]:
        """Hook for ``position_received`` (data: node_id, lat, lon, altitude, time)."""
        data = event.data
        node_id, lat, lon = data.get("node_id"), data.get("lat"), data.get("lon")
        if not isinstance(node_id, str) or not node_id or not valid_point(lat, lon):
            return []
        if lat == 0 and lon == 0:  # "no fix" as some firmware reports it
            return []
        at = _event_time(event.time)
        lat_f, lon_f = float(lat), float(lon)  # type: ignore[arg-type]
        return [self._event(crossing, node_id, lat_f, lon_f, at, event)
                for crossing in self.evaluate(node_id, lat_f, lon_f, at)]

    def evaluate(self, node_id: str, lat: float, lon: float, at: dt.datetime) -> list[Crossing]:
        """Update the node's presence in every active zone; the crossings it made."""
        crossings: list[Crossing] = []
        zones = self.list_zones(active_only=True)
        if not zones:
            return crossings
        states = {p.zone_uid: p for p in
                  ZonePresence.select().where(ZonePresence.node_id == node_id)}
        for zone in zones:
            distance = self.signed_distance(zone, lat, lon)
            if distance is None:
                continue
            state = states.get(zone.uid)
            if state is not None and state.position_at is not None and at < state.position_at:
                continue  # an older position arriving late
            inside = state is not None and state.inside
            margin = self._margin(zone, self.shape(zone))
            if not inside and distance > margin:
                entered = True
            elif inside and distance < -margin:
                entered = False
            else:
                continue
            self._set_presence(zone.uid, node_id, entered, distance, at, state)
            crossings.append(Crossing(zone, entered, distance))
        return crossings

    def _set_presence(self, zone_uid: str, node_id: str, inside: bool, distance: float,
                      at: dt.datetime, state: ZonePresence | None) -> None:
        if state is None:
            ZonePresence.create(zone_uid=zone_uid, node_id=node_id, inside=inside,
                                distance_m=distance, position_at=at, changed_at=at)
        else:
            ZonePresence.update(inside=inside, distance_m=distance, position_at=at,
                                changed_at=at).where(ZonePresence.id == state.id).execute()

    def seed_presence(self, zone: Zone) -> None:
        """Set every known node's state in ``zone`` from its last position, without events."""
        ZonePresence.delete().where(ZonePresence.zone_uid == zone.uid).execute()
        if not zone.is_active or zone.deleted:
            return
        now = _naive_utc_now()
        for node in Node.select(Node.node_id, Node.lat, Node.lon, Node.position_at).where(
                Node.lat.is_null(False) & Node.lon.is_null(False)):
            distance = self.signed_distance(zone, node.lat, node.lon)  # type: ignore[arg-type]
            if distance is not None and distance >= 0:
                self._set_presence(zone.uid, node.node_id, True, distance,
                                   node.position_at or now, None)

    def _event(self, crossing: Crossing, node_id: str, lat: float, lon: float,
               at: dt.datetime, cause: Event) -> Event:
        zone = crossing.zone
        user_name = user_uid = None
        groups: list[str] = []
        users = self.modules.get("users")
        if users is not None:
            user = users.user_for_node(node_id)
            if user is not None:
                user_name, user_uid, groups = user.name, user.uid, users.group_names(user)
        return Event(
            type="zone_entry" if crossing.entered else "zone_exit",
            data={"zone": zone.name, "zone_uid": zone.uid, "node_id": node_id,
                  "user": user_name, "user_uid": user_uid, "groups": groups,
                  "lat": lat, "lon": lon, "distance_m": round(crossing.distance_m, 1),
                  "margin_m": zone.margin_m, "zone_metadata": zone.metadata or {},
                  "position_time": at.isoformat()},
            source="module:zones",
            keys=frozenset({zone_key(zone.name)}),
            chain=cause.chain,
            triggered_by=node_id,
        )

    def nodes_inside(self, zone: Zone) -> list[str]:
        rows = ZonePresence.select(ZonePresence.node_id).where(
            (ZonePresence.zone_uid == zone.uid) & (ZonePresence.inside == True))  # noqa: E712
        return sorted(r.node_id for r in rows)

    def zones_of(self, node_id: str) -> list[Zone]:
        """The active zones the node is inside now."""
        inside = [p.zone_uid for p in ZonePresence.select(ZonePresence.zone_uid).where(
            (ZonePresence.node_id == node_id) & (ZonePresence.inside == True))]  # noqa: E712
        if not inside:
            return []
        return list(fleet.live(Zone).where(Zone.uid.in_(inside) & (Zone.is_active == True))  # noqa: E712
                    .order_by(Zone.name))

    def is_inside(self, zone_ref: str, node_id: str) -> bool | None:
        """Whether the node is inside; None when nothing is known about its position.

        Raises NotFound for an unknown zone.
        """
        zone = self.find(zone_ref)
        state = ZonePresence.get_or_none((ZonePresence.zone_uid == zone.uid)
                                         & (ZonePresence.node_id == node_id))
        if state is not None:
            return bool(state.inside) and bool(zone.is_active)
        node = Node.get_or_none(Node.node_id == node_id)
        if node is None or node.lat is None:
            return None
        return False


def _naive_utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _event_time(received: float) -> dt.datetime:
    """When the station received the position (naive UTC). The handset's own clock is not
    used for ordering: one wrong GPS time would freeze the node's state."""
    return dt.datetime.fromtimestamp(received, dt.UTC).replace(tzinfo=None)


__all__ = ["DEFAULT_MARGIN_M", "Crossing", "InvalidRecord", "NotFound", "ZoneService",
           "zone_key"]
