"""Zones: the fleet's circles and polygons (list, get, create, update, delete)."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.module_models import ZONE_SHAPES, Zone
from agent.modules.fleet import live
from agent.modules.geo import MAX_POLYGON_VERTICES, MAX_ZONE_RADIUS_M
from agent.modules.zones import MAX_MARGIN_M
from central.api._common import Api, Query, Request
from central.api._fleet import (
    CENTRAL,
    FLEET_PROPERTIES,
    METADATA,
    NAME,
    PAGE,
    FleetEdits,
    get_live,
    register_edits,
    register_schemas,
    view,
)
from central.api._schemas import obj
from central.context import CentralContext

_LAT = {"type": "number", "minimum": -90, "maximum": 90}
_LON = {"type": "number", "minimum": -180, "maximum": 180}
ZONE_FIELDS: dict[str, Any] = {
    "name": NAME,
    "shape": {"enum": list(ZONE_SHAPES),
              "description": "circle (center_lat, center_lon, radius_m) or polygon"},
    "center_lat": _LAT,
    "center_lon": _LON,
    "radius_m": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_ZONE_RADIUS_M},
    "polygon": {"type": "array", "minItems": 3, "maxItems": MAX_POLYGON_VERTICES,
                "items": {"type": "array", "prefixItems": [_LAT, _LON], "minItems": 2,
                          "maxItems": 2},
                "description": "[[lat, lon], ...]"},
    "margin_m": {"type": "number", "minimum": 0, "maximum": MAX_MARGIN_M,
                 "description": "hysteresis of zone_entry/zone_exit (default 25 m)"},
    "is_active": {"type": "boolean"},
    "metadata": METADATA,
}
ZONE = obj({**FLEET_PROPERTIES, "name": {"type": "string"}, "shape": {"enum": list(ZONE_SHAPES)},
            "center_lat": {"type": "number"}, "center_lon": {"type": "number"},
            "radius_m": {"type": ["number", "null"]},
            "polygon": {"type": ["array", "null"], "items": {"type": "array",
                                                             "items": {"type": "number"}}},
            "margin_m": {"type": "number"}, "is_active": {"type": "boolean"},
            "metadata": {"type": ["object", "null"]}})


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="zones")
    register_schemas(api, "zone", ZONE, ZONE_FIELDS)

    @api.get("/api/zones", "modules:view", "List zones",
             query=[*PAGE, Query("active_only", bool, False, "only active zones"),
                    Query("name", str, None, "names containing this", max_length=100)],
             response="ZoneList")
    def list_zones(req: Request) -> dict[str, Any]:
        q = req.query
        query = live(Zone)
        if q["active_only"]:
            query = query.where(Zone.is_active == True)  # noqa: E712
        if q["name"]:
            query = query.where(Zone.name.contains(q["name"]))
        page = query.order_by(Zone.name, Zone.id).limit(q["limit"]).offset(q["offset"])
        return {"zones": [view(z) for z in page], "total": query.count()}

    @api.get("/api/zones/{id:int}", "modules:view", "A zone", response="Zone")
    def get_zone(req: Request, id: int) -> dict[str, Any]:
        return view(get_live(Zone, id, "zone"))

    register_edits(api, FleetEdits(
        "zone", Zone,
        create=lambda m, body, _actor: (m.zones.create(body, origin=CENTRAL), None),
        update=lambda m, zone, changes, _actor: (m.zones.update(zone, changes, origin=CENTRAL),
                                                 None),
        delete=lambda m, zone: m.zones.delete(zone, origin=CENTRAL)),
        create_doc="A circle (center_lat, center_lon, radius_m) or a polygon; 409 when the "
                   "name is taken.",
        update_doc="Activate or deactivate, rename, reshape, change the margin or the "
                   "metadata. Send the hlc you edited to be told (409) of a concurrent change.")
