"""firefly-agent zone add|list|remove: the station's own copy of zones, without central."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import EXIT_OK, EXIT_USAGE, fail, print_json
from agent.config import AgentConfig
from agent.modules.admin import edit, open_local, table
from agent.modules.fleet import record_of
from agent.modules.geo import GeometryError, parse_polygon_text


def register(sub: Any) -> None:
    zone = sub.add_parser("zone", help="zones (circles and polygons)").add_subparsers(
        dest="action", required=True)
    p = zone.add_parser("add", help="add a zone: a circle (--lat --lon --radius) or --polygon")
    p.add_argument("name")
    p.add_argument("--lat", type=float, help="centre latitude")
    p.add_argument("--lon", type=float, help="centre longitude")
    p.add_argument("--radius", type=float, help="radius in metres")
    p.add_argument("--polygon", help='vertices "lat,lon;lat,lon;..."')
    p.add_argument("--margin", type=float, help="hysteresis margin in metres (default 25)")
    p.add_argument("--inactive", action="store_true", help="add it deactivated")
    p.set_defaults(func=cmd_add)
    p = zone.add_parser("list", help="list zones")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = zone.add_parser("remove", help="remove a zone (a tombstone that syncs)")
    p.add_argument("name", help="name or uid")
    p.set_defaults(func=cmd_remove)


def cmd_add(args: argparse.Namespace, config: AgentConfig) -> int:
    data: dict[str, Any] = {"name": args.name, "is_active": not args.inactive}
    if args.polygon is not None:
        if args.lat is not None or args.lon is not None or args.radius is not None:
            return fail("give either --polygon or --lat/--lon/--radius", EXIT_USAGE)
        try:
            data["polygon"] = parse_polygon_text(args.polygon)
        except GeometryError as exc:
            return fail(f"--polygon: {exc}", EXIT_USAGE)
    elif None in (args.lat, args.lon, args.radius):
        return fail("a circle needs --lat, --lon and --radius (or give --polygon)", EXIT_USAGE)
    else:
        data.update(center_lat=args.lat, center_lon=args.lon, radius_m=args.radius)
    if args.margin is not None:
        data["margin_m"] = args.margin
    zones = open_local(config.station.db, config.station.id).modules["zones"]
    zone, error, code = edit(lambda: zones.create(data))
    if zone is None:
        return fail(f"zone {args.name}: {error}", code)
    print(zone.uid)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    zones = open_local(config.station.db, config.station.id).modules["zones"]
    rows = [record_of(z) for z in zones.list_zones()]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row in rows:
        row["where"] = (f"{row['center_lat']:.5f},{row['center_lon']:.5f} r={row['radius_m']:g} m"
                        if row["shape"] == "circle" else f"{len(row['polygon'] or [])} vertices")
    print(table(rows, ["name", "shape", "where", "margin_m", "is_active", "uid"]))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, config: AgentConfig) -> int:
    zones = open_local(config.station.db, config.station.id).modules["zones"]

    def remove() -> str:
        zone = zones.find(args.name)
        zones.delete(zone)
        return str(zone.uid)

    uid, error, code = edit(remove)
    if uid is None:
        return fail(f"zone {args.name}: {error}", code)
    print(f"removed {uid}")
    return EXIT_OK
