"""Where nodes are: read access to the radio's geolocation store (nodes and positions).

The radio module writes ``nodes`` and ``positions``; this module only reads them, for actions
(create_alert attaches the sender's last position) and conditions.
"""

from __future__ import annotations

from typing import Any

from agent.core.station_models import Node, Position
from agent.modules.geo import haversine_m


class GeoService:
    def last_position(self, node_id: str) -> tuple[float, float] | None:
        """The node's last known (lat, lon), or None."""
        node = Node.get_or_none(Node.node_id == node_id)
        if node is not None and node.lat is not None and node.lon is not None:
            return float(node.lat), float(node.lon)
        row = (Position.select(Position.lat, Position.lon).where(Position.node_id == node_id)
               .order_by(Position.at.desc()).first())
        if row is None:
            return None
        return float(row.lat), float(row.lon)

    def node(self, node_id: str) -> Node | None:
        return Node.get_or_none(Node.node_id == node_id)

    def distance_m(self, node_a: str, node_b: str) -> float | None:
        """Metres between two nodes' last positions, or None when one is unknown."""
        a, b = self.last_position(node_a), self.last_position(node_b)
        if a is None or b is None:
            return None
        return haversine_m(a[0], a[1], b[0], b[1])

    def history(self, node_id: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = (Position.select().where(Position.node_id == node_id)
                .order_by(Position.at.desc()).limit(max(1, min(limit, 10_000))))
        return [{"lat": r.lat, "lon": r.lon, "altitude": r.altitude, "at": r.at.isoformat()}
                for r in rows]
