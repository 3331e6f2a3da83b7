"""What the station-module endpoints share (alerts, zones, users, groups, bots, notifications).

Central holds the fleet-wide records with the same models and the same module services as a
station (agent/modules), constructed for station "central" without an outbox: central's
changes reach the stations through the sync feed, which ``ctx.changed`` wakes. Validation,
last-writer-wins clocks and tombstones are therefore exactly the station's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agent.core.models import database
from agent.core.module_models import FleetRecord
from agent.engine.events import Event
from agent.modules.alerts import AlertService
from agent.modules.bots import BotService
from agent.modules.fleet import Conflict, InvalidRecord, NotFound, record_of
from agent.modules.users import UserService
from agent.modules.zones import ZoneService
from central.api._common import Api, ApiError, Query, Request
from central.api._schemas import TIME, array_of, obj
from central.audit import audit
from central.context import CentralContext

CENTRAL = "central"
R = TypeVar("R", bound=FleetRecord)

PAGE = [Query("limit", int, 50, "page size", minimum=1, maximum=500),
        Query("offset", int, 0, "rows to skip", minimum=0)]

# The columns every fleet-owned record has, as the API returns them.
FLEET_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"}, "uid": {"type": "string"}, "hlc": {"type": "string"},
    "origin": {"type": "string"}, "deleted": {"type": "boolean"}, "created_at": TIME,
    "updated_at": TIME,
}
NAME = {"type": "string", "minLength": 1, "maxLength": 100}
METADATA = {"type": "object", "description": "free-form data (at most 16 KiB)"}
HLC_FIELD = {"type": "string", "maxLength": 100,
             "description": "the hlc of the version you edited: 409 if it changed meanwhile"}


class Modules:
    """The module services as central uses them (no outbox; events go to central's engine)."""

    def __init__(self, ctx: CentralContext) -> None:
        self.ctx = ctx
        self.modules: dict[str, Any] = {}
        self.alerts = AlertService(CENTRAL, ctx.clock, outbox=False)
        self.users = self.modules["users"] = UserService(CENTRAL, ctx.clock, outbox=False)
        self.zones = ZoneService(CENTRAL, ctx.clock, self.modules, outbox=False)
        self.bots = BotService(CENTRAL, ctx.clock, self.modules, outbox=False)

    def submit(self, events: list[Event] | Event | None) -> None:
        """Hand events to central's engine (processes assigned to "central"), if it runs."""
        if self.ctx.engine is None or events is None:
            return
        for event in events if isinstance(events, list) else [events]:
            self.ctx.engine.submit(event)


def invalid(exc: InvalidRecord, what: str) -> ApiError:
    """A service's refusal as an API error: 409 for a name conflict, else 400 with the path."""
    path, _, reason = str(exc).partition(": ")
    if not reason:
        path, reason = "(root)", str(exc)
    if isinstance(exc, Conflict):
        return ApiError(409, str(exc))
    return ApiError(400, f"invalid {what}", errors=[{"path": path, "reason": reason}])


def not_found(exc: NotFound) -> ApiError:
    return ApiError(404, str(exc))


def get_live(model: type[R], record_id: int, what: str) -> R:
    row = model.get_or_none((model.id == record_id) & (model.deleted == False))  # noqa: E712
    if row is None:
        raise ApiError(404, f"no {what} {record_id}")
    return row  # type: ignore[no-any-return]


def check_hlc(row: FleetRecord, body: dict[str, Any], what: str) -> dict[str, Any]:
    """The body without ``hlc``; 409 when it names a version that is no longer current."""
    changes = dict(body)
    seen = changes.pop("hlc", None)
    if seen is not None and seen != row.hlc:
        raise ApiError(409, f"{what} {row.uid} was changed meanwhile (hlc {row.hlc}): "
                            "reload it and edit again")
    return changes


def view(row: FleetRecord, **extra: Any) -> dict[str, Any]:
    return {"id": row.id, **record_of(row), **extra}


Events = list[Event] | Event | None


@dataclass(frozen=True)
class FleetEdits(Generic[R]):
    """How one kind of fleet record is created, updated, deleted and shown, through its
    station service (``Modules``); ``register_edits`` turns it into the three endpoints."""

    kind: str  # "zone": paths /api/zones, schemas ZoneCreate / ZoneUpdate / Zone
    model: type[R]
    create: Callable[[Modules, dict[str, Any], str], tuple[R, Events]]  # (modules, body, actor)
    update: Callable[[Modules, R, dict[str, Any], str], tuple[R, Events]]  # (..., row, changes, actor)
    delete: Callable[[Modules, R], None]
    show: Callable[[Modules, R], dict[str, Any]] = lambda _modules, row: view(row)


def register_schemas(api: Api, kind: str, item: dict[str, Any], fields: dict[str, Any],
                     required: tuple[str, ...] = ("name",)) -> None:
    """The schemas of one kind of fleet record: ``Zone``, ``ZoneList`` (``zones``, ``total``),
    ``ZoneCreate`` (``fields``, ``required`` ones required) and ``ZoneUpdate`` (any of
    ``fields``, and the ``hlc`` the edit is based on); the names ``register_edits`` uses."""
    schema = kind.capitalize()
    api.schema(schema, item)
    api.schema(f"{schema}List", obj({f"{kind}s": array_of(schema),
                                     "total": {"type": "integer"}}))
    api.schema(f"{schema}Create", {"type": "object", "required": list(required),
                                   "properties": fields, "additionalProperties": False})
    api.schema(f"{schema}Update", {"type": "object", "properties": {**fields, "hlc": HLC_FIELD},
                                   "additionalProperties": False})


def register_edits(api: Api, edits: FleetEdits[R], *, create_doc: str = "",
                   update_doc: str = "", delete_summary: str = "") -> None:
    """POST /api/<kind>s, PUT and DELETE /api/<kind>s/{id}: each change in one transaction
    with its audit entry, then the sync feed woken and the change's events handed to
    central's engine."""
    kind, model = edits.kind, edits.model
    schema, path = kind.capitalize(), f"/api/{kind}s"

    def create(req: Request) -> dict[str, Any]:
        modules = Modules(req.ctx)
        with database.atomic():
            try:
                row, events = edits.create(modules, req.body, req.actor)
            except InvalidRecord as exc:
                raise invalid(exc, kind) from None
            after = edits.show(modules, row)
            audit(req.actor, "create", kind, row.uid, None, after)
        req.ctx.changed(kind, row.uid)
        modules.submit(events)
        return after

    def update(req: Request, id: int) -> dict[str, Any]:
        modules = Modules(req.ctx)
        with database.atomic():
            row = get_live(model, id, kind)
            changes = check_hlc(row, req.body, kind)
            before = edits.show(modules, row)
            try:
                _row, events = edits.update(modules, row, changes, req.actor)
            except InvalidRecord as exc:
                raise invalid(exc, kind) from None
            after = edits.show(modules, row)
            audit(req.actor, "update", kind, row.uid, before, after)
        req.ctx.changed(kind, row.uid)
        modules.submit(events)
        return after

    def delete(req: Request, id: int) -> dict[str, Any]:
        modules = Modules(req.ctx)
        with database.atomic():
            row = get_live(model, id, kind)
            before = edits.show(modules, row)
            edits.delete(modules, row)
            audit(req.actor, "delete", kind, row.uid, before, None)
        req.ctx.changed(kind, row.uid)
        return {"message": "deleted"}

    create.__name__, update.__name__, delete.__name__ = (f"create_{kind}", f"update_{kind}",
                                                         f"delete_{kind}")
    api.post(path, "modules:edit", f"Create a {kind}", body=f"{schema}Create", response=schema,
             status=201, errors=(409,), description=create_doc)(create)
    api.put(f"{path}/{{id:int}}", "modules:edit", f"Update a {kind} (the fields given)",
            body=f"{schema}Update", response=schema, errors=(409,),
            description=update_doc)(update)
    api.delete(f"{path}/{{id:int}}", "modules:edit",
               delete_summary or f"Delete a {kind} (a tombstone that syncs)",
               response="Message")(delete)


__all__ = ["CENTRAL", "FLEET_PROPERTIES", "HLC_FIELD", "METADATA", "FleetEdits", "Modules", "NAME",
           "PAGE", "check_hlc", "get_live", "invalid", "not_found", "register_edits", "view"]
