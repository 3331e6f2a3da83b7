"""Geometry on the sphere, as pure functions: distances, circles and polygons.

- Distances between points: the haversine formula on a sphere of the mean Earth radius
  (error under 0.5 % against the ellipsoid, far below a handset's GPS error).
- Circles: the signed distance to the boundary is ``radius - haversine(centre, point)``.
- Polygons: vertices and point are projected onto the plane tangent to the sphere at the
  polygon's centre (gnomonic projection: great-circle edges stay straight lines), then the
  even-odd rule decides inside/outside and the distance to the nearest edge is measured in
  metres on that plane. The centre is the normalised mean of the vertices' unit vectors, so a
  polygon that crosses the antimeridian or surrounds a pole is projected correctly too.

Signed distances are positive inside and negative outside: the zone module's hysteresis
compares them with a margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
MAX_ZONE_RADIUS_M = 2_000_000.0  # zones are local; a polygon must fit well within a hemisphere
MAX_POLYGON_VERTICES = 1000

LatLon = tuple[float, float]


class GeometryError(ValueError):
    """A shape that cannot be used; the message names the part and the reason."""


def valid_point(lat: object, lon: object) -> bool:
    """A finite latitude in [-90, 90] and longitude in [-180, 180] (bools refused)."""
    if isinstance(lat, bool) or isinstance(lon, bool):
        return False
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return False
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)


def centroid(points: Sequence[LatLon]) -> LatLon:
    """The normalised mean of the points' unit vectors (robust at the antimeridian)."""
    x = y = z = 0.0
    for lat, lon in points:
        ux, uy, uz = _unit(lat, lon)
        x, y, z = x + ux, y + uy, z + uz
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-12:
        raise GeometryError("polygon: its vertices surround the whole sphere")
    return math.degrees(math.asin(max(-1.0, min(1.0, z / norm)))), math.degrees(math.atan2(y, x))


@dataclass(frozen=True)
class TangentPlane:
    """The gnomonic projection onto the plane tangent at (lat0, lon0), in metres."""

    lat0: float
    lon0: float

    def project(self, lat: float, lon: float) -> tuple[float, float] | None:
        """(east, north) in metres, or None for a point on the far side of the sphere."""
        p0, p = math.radians(self.lat0), math.radians(lat)
        dl = math.radians(lon - self.lon0)
        cos_c = math.sin(p0) * math.sin(p) + math.cos(p0) * math.cos(p) * math.cos(dl)
        if cos_c <= 1e-6:
            return None
        x = math.cos(p) * math.sin(dl) / cos_c
        y = (math.cos(p0) * math.sin(p) - math.sin(p0) * math.cos(p) * math.cos(dl)) / cos_c
        return EARTH_RADIUS_M * x, EARTH_RADIUS_M * y


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) \
        -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


@dataclass(frozen=True)
class Polygon:
    """A polygon prepared for repeated tests: vertices projected once."""

    vertices: tuple[LatLon, ...]
    plane: TangentPlane
    projected: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, vertices: Sequence[Sequence[float]]) -> Polygon:
        points = check_polygon(vertices)
        plane = TangentPlane(*centroid(points))
        projected = []
        for i, (lat, lon) in enumerate(points):
            xy = plane.project(lat, lon)
            if xy is None or math.hypot(*xy) > MAX_ZONE_RADIUS_M:
                raise GeometryError(f"polygon[{i}]: more than {MAX_ZONE_RADIUS_M / 1000:g} km "
                                    "from the polygon's centre")
            projected.append(xy)
        area = abs(sum(ax * by - bx * ay for (ax, ay), (bx, by)
                       in zip(projected, projected[1:] + projected[:1], strict=True))) / 2
        if area < 1.0:
            raise GeometryError("polygon: its vertices enclose no area")
        return cls(points, plane, tuple(projected))

    def signed_distance_m(self, lat: float, lon: float) -> float:
        """Metres to the boundary: positive inside, negative outside."""
        xy = self.plane.project(lat, lon)
        if xy is None:  # the other side of the Earth: far outside
            return -haversine_m(self.plane.lat0, self.plane.lon0, lat, lon)
        px, py = xy
        inside = False
        nearest = math.inf
        pts = self.projected
        for i in range(len(pts)):
            ax, ay = pts[i]
            bx, by = pts[i - 1]
            if (ay > py) != (by > py) and px < (bx - ax) * (py - ay) / (by - ay) + ax:
                inside = not inside
            nearest = min(nearest, _segment_distance(px, py, ax, ay, bx, by))
        return nearest if inside else -nearest


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def signed_distance_m(self, lat: float, lon: float) -> float:
        return self.radius_m - haversine_m(self.lat, self.lon, lat, lon)


Shape = Circle | Polygon


def check_polygon(vertices: object) -> tuple[LatLon, ...]:
    """Validated [lat, lon] vertices (at least 3, a closing repeat of the first dropped)."""
    if not isinstance(vertices, list | tuple):
        raise GeometryError("polygon: must be a list of [lat, lon] vertices")
    points: list[LatLon] = []
    for i, vertex in enumerate(vertices):
        if not isinstance(vertex, list | tuple) or len(vertex) != 2 \
                or not valid_point(vertex[0], vertex[1]):
            raise GeometryError(f"polygon[{i}]: must be [lat, lon] with lat in [-90, 90] "
                                "and lon in [-180, 180]")
        points.append((float(vertex[0]), float(vertex[1])))
    if len(points) > 3 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        raise GeometryError("polygon: needs at least 3 vertices")
    if len(points) > MAX_POLYGON_VERTICES:
        raise GeometryError(f"polygon: at most {MAX_POLYGON_VERTICES} vertices")
    return tuple(points)


def check_circle(lat: object, lon: object, radius_m: object) -> Circle:
    if not valid_point(lat, lon):
        raise GeometryError("center: lat must be in [-90, 90] and lon in [-180, 180]")
    if isinstance(radius_m, bool) or not isinstance(radius_m, int | float) \
            or not math.isfinite(radius_m) or not 0 < radius_m <= MAX_ZONE_RADIUS_M:
        raise GeometryError(f"radius_m: must be a number of metres in (0, {MAX_ZONE_RADIUS_M:g}]")
    return Circle(float(lat), float(lon), float(radius_m))  # type: ignore[arg-type]


def parse_polygon_text(text: str) -> list[list[float]]:
    """``"lat,lon;lat,lon;..."`` (the command line's form) -> [[lat, lon], ...]."""
    vertices: list[list[float]] = []
    for i, part in enumerate(p for p in text.split(";") if p.strip()):
        try:
            lat, lon = (float(v) for v in part.split(","))
        except ValueError:
            raise GeometryError(f"polygon[{i}]: {part.strip()!r} is not 'lat,lon'") from None
        vertices.append([lat, lon])
    return vertices
