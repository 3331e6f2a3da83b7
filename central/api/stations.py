"""GET /api/stations, GET /api/stations/{id}: the field stations as the sync sees them."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.models import Process
from agent.sync.protocol import STATION_ID
from central.api._common import Api, ApiError, Request
from central.context import CentralContext
from central.sync.models import SyncStation
from central.sync.stations import station_view

_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

STATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "online", "last_seen", "last_sync", "outbox_depth", "radio_state",
                 "airtime_used", "assigned_processes"],
    "properties": {
        "id": {"type": "string"},
        "online": {"type": "boolean", "description": "from its retained status topic (will)"},
        "last_seen": {**_NULLABLE_TIME, "description": "its last message of any kind"},
        "last_sync": {**_NULLABLE_TIME, "description": "the last batch central committed"},
        "outbox_depth": {"type": ["integer", "null"],
                         "description": "records not yet acknowledged (last heartbeat)"},
        "radio_state": {"type": ["object", "null"]},
        "airtime_used": {"description": "as the radio reports it (last heartbeat)"},
        "engine": {"type": ["object", "null"], "description": "queue depth, loaded processes, "
                                                          "counters (last heartbeat)"},
        "heartbeat_at": _NULLABLE_TIME,
        "first_seen": _NULLABLE_TIME,
        "incarnation": {"type": "string"},
        "records_ingested": {"type": "integer"},
        "dead_letters": {"type": "integer", "description": "its messages or records rejected"},
        "agent_version": {"type": ["string", "null"],
                          "description": "the agent software version its last hello reported "
                                         "(null: not reported, a protocol 1.0 station)"},
        "protocol_version": {"type": ["string", "null"],
                             "description": "the sync protocol version it speaks, e.g. \"1.1\" "
                                            "(null: no hello yet)"},
        "assigned_processes": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "integer"}, "uid": {"type": "string"},
                                             "name": {"type": "string"},
                                             "is_active": {"type": "boolean"}}}},
        "heartbeat": {"type": "object"},
        "feed_watermark": {"type": "integer"},
        "commands": {"type": "array", "items": {"type": "object"}},
        "recent_dead_letters": {"type": "array", "items": {"type": "object"}},
    },
}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="stations")
    api.schema("Station", STATION_SCHEMA)
    api.schema("StationList", {
        "type": "object", "required": ["stations", "total"],
        "properties": {"stations": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/Station"}},
                       "total": {"type": "integer"}}})

    def live_processes() -> list[Process]:
        return list(Process.select().where(~Process.deleted).order_by(Process.id))

    @api.get("/api/stations", "stations:view", "The field stations: online, last seen, last "
             "sync, outbox depth, radio, airtime, assigned processes", response="StationList")
    def list_stations(req: Request) -> dict[str, Any]:
        processes = live_processes()
        rows = SyncStation.select().order_by(SyncStation.station_id)
        stations = [station_view(row, processes) for row in rows]
        return {"stations": stations, "total": len(stations)}

    @api.get("/api/stations/{id}", "stations:view", "One station with its last heartbeat, "
             "recent commands and dead letters", response="Station", errors=(404,))
    def get_station(req: Request, id: str) -> dict[str, Any]:
        if not STATION_ID.fullmatch(id):
            raise ApiError(404, f"no station {id[:64]!r}")
        row = SyncStation.get_or_none(SyncStation.station_id == id)
        if row is None:
            raise ApiError(404, f"no station {id!r}")
        return station_view(row, live_processes(), detail=True)
