"""Geometry on the sphere: haversine distances, circles, polygons on a tangent plane."""

from __future__ import annotations

import math

import pytest

from agent.modules.geo import (
    EARTH_RADIUS_M,
    Circle,
    GeometryError,
    Polygon,
    check_circle,
    haversine_m,
    parse_polygon_text,
)
from tests.modules.modules_support import METRES_PER_DEGREE, offset


def test_haversine_matches_great_circle_facts() -> None:
    # a quarter of a meridian, and a degree of the equator, are fixed fractions of the sphere
    assert haversine_m(0, 0, 90, 0) == pytest.approx(math.pi * EARTH_RADIUS_M / 2, rel=1e-9)
    assert haversine_m(0, 10, 0, 11) == pytest.approx(METRES_PER_DEGREE, rel=1e-9)
    # a degree of longitude shrinks with the cosine of the latitude (small-angle check)
    east = haversine_m(60, 10, 60, 10.001)
    assert east == pytest.approx(0.001 * METRES_PER_DEGREE * math.cos(math.radians(60)), rel=1e-4)
    # Paris - London: the published great-circle distance is about 343.5 km
    assert haversine_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_500, rel=0.005)
    # across the antimeridian the short way round
    assert haversine_m(0, 179.999, 0, -179.999) == pytest.approx(0.002 * METRES_PER_DEGREE,
                                                                 rel=1e-6)


def test_circle_signed_distance_is_positive_inside_negative_outside() -> None:
    circle = check_circle(46.5, 7.9, 500)
    inside = offset(46.5, 7.9, north_m=100)
    outside = offset(46.5, 7.9, east_m=650)
    assert circle.signed_distance_m(*inside) == pytest.approx(400, abs=0.5)
    assert circle.signed_distance_m(*outside) == pytest.approx(-150, abs=0.5)


def _square(lat: float, lon: float, half_m: float) -> list[list[float]]:
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    return [list(offset(lat, lon, north_m=n, east_m=e)) for n, e in corners]


def test_polygon_distances_are_metres_not_degrees_at_high_latitude() -> None:
    # At 60 degrees north a degree of longitude is half a degree of latitude: a test done in
    # raw degrees would get these distances wrong by a factor of two.
    square = Polygon.of(_square(60.0, 10.0, 500))
    assert square.signed_distance_m(60.0, 10.0) == pytest.approx(500, abs=1)
    east_outside = offset(60.0, 10.0, east_m=600)
    north_outside = offset(60.0, 10.0, north_m=600)
    assert square.signed_distance_m(*east_outside) == pytest.approx(-100, abs=1)
    assert square.signed_distance_m(*north_outside) == pytest.approx(-100, abs=1)
    near_corner = offset(60.0, 10.0, north_m=450, east_m=480)
    assert square.signed_distance_m(*near_corner) == pytest.approx(20, abs=1)


def test_concave_polygon_excludes_its_notch() -> None:
    # a U shape: the notch between the arms is outside
    lat, lon = 46.0, 7.0
    points = [(0, 0), (0, 300), (300, 300), (300, 200), (100, 200), (100, 100), (300, 100),
              (300, 0)]
    u_shape = Polygon.of([list(offset(lat, lon, north_m=n, east_m=e)) for n, e in points])
    assert u_shape.signed_distance_m(*offset(lat, lon, north_m=200, east_m=150)) \
        == pytest.approx(-50, abs=1)
    assert u_shape.signed_distance_m(*offset(lat, lon, north_m=200, east_m=50)) \
        == pytest.approx(50, abs=1)


def test_polygon_across_the_antimeridian() -> None:
    fiji = Polygon.of([[-17.0, 179.99], [-17.0, -179.99], [-17.01, -179.99], [-17.01, 179.99]])
    assert fiji.signed_distance_m(-17.005, 180.0) > 0
    assert fiji.signed_distance_m(-17.005, -179.995) > 0
    assert fiji.signed_distance_m(-17.005, 179.98) < 0
    assert fiji.signed_distance_m(-17.005, 0.0) < 0  # the far side of the Earth: no crash


def test_polygon_around_a_pole_does_not_crash() -> None:
    cap = Polygon.of([[89.9, 0.0], [89.9, 90.0], [89.9, 180.0], [89.9, -90.0]])
    assert cap.signed_distance_m(90.0, 0.0) > 0
    assert cap.signed_distance_m(89.0, 45.0) < 0
    assert cap.signed_distance_m(-90.0, 0.0) < 0
    circle = Circle(89.99, 0.0, 5000)
    assert circle.signed_distance_m(90.0, 123.0) > 0


@pytest.mark.parametrize("vertices, problem", [
    ([[46.0, 7.0], [46.1, 7.0]], "at least 3"),
    ([[46.0, 7.0], [91.0, 7.0], [46.1, 7.1]], "polygon[1]"),
    ([[46.0, 7.0], [float("nan"), 7.0], [46.1, 7.1]], "polygon[1]"),
    ([[0.0, 0.0], [0.0, 40.0], [10.0, 20.0]], "km from the polygon's centre"),
    ([[0.0, 0.0], [0.0, 120.0], [0.0, -120.0]], "surround the whole sphere"),
    ([[46.0, 7.0], [46.2, 7.0], [46.1, 7.0]], "enclose no area"),  # one meridian
    ("46,7;46,8", "list of [lat, lon]"),
])
def test_unusable_polygons_are_refused_with_the_place(vertices: object, problem: str) -> None:
    with pytest.raises(GeometryError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        Polygon.of(vertices)  # type: ignore[arg-type]


def test_circle_and_polygon_text_validation() -> None:
    with pytest.raises(GeometryError, match="radius_m"):
        check_circle(46.0, 7.0, -5)
    with pytest.raises(GeometryError, match="center"):
        check_circle(46.0, 200.0, 100)
    assert parse_polygon_text("46.6,7.9; 46.6,8.0;46.7,8.0;") == [[46.6, 7.9], [46.6, 8.0],
                                                                 [46.7, 8.0]]
    with pytest.raises(GeometryError, match=r"polygon\[1\]"):
        parse_polygon_text("46.6,7.9;46.6")
