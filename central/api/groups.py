"""Groups of users (medics, north-team): list, get, create, update, delete."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.module_models import NOTIFICATION_CHANNELS, Group
from agent.modules.fleet import live
from agent.modules.users import UserService
from central.api._common import Api, Query, Request
from central.api._fleet import (
    CENTRAL,
    FLEET_PROPERTIES,
    METADATA,
    NAME,
    PAGE,
    FleetEdits,
    Modules,
    get_live,
    register_edits,
    register_schemas,
    view,
)
from central.api._schemas import NULLABLE_STR, obj
from central.context import CentralContext

GROUP_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": {"type": ["string", "null"], "maxLength": 2000},
    "channels": {"type": "array", "items": {"enum": list(NOTIFICATION_CHANNELS)},
                 "uniqueItems": True,
                 "description": "how notifications reach it: mesh, mqtt, feed"},
    "mqtt_topic": {"type": ["string", "null"], "minLength": 1, "maxLength": 200,
                   "description": "topic of the mqtt channel (default: under the station's "
                                  "out/notifications/group/)"},
    "is_active": {"type": "boolean"},
    "metadata": METADATA,
}
STRINGS = {"type": "array", "items": {"type": "string"}}
GROUP = obj({**FLEET_PROPERTIES, "name": {"type": "string"}, "description": NULLABLE_STR,
             "channels": STRINGS, "mqtt_topic": NULLABLE_STR, "is_active": {"type": "boolean"},
             "metadata": {"type": ["object", "null"]}, "members": STRINGS,
             "member_count": {"type": "integer"}})


def group_view(users: UserService, group: Group) -> dict[str, Any]:
    members = [u.name for u in users.members(group)]
    return view(group, members=members, member_count=len(members))


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="groups")
    register_schemas(api, "group", GROUP, GROUP_FIELDS)

    @api.get("/api/groups", "modules:view", "List groups with their members",
             query=[*PAGE, Query("active_only", bool, False, "only active groups")],
             response="GroupList")
    def list_groups(req: Request) -> dict[str, Any]:
        q, users = req.query, Modules(req.ctx).users
        query = live(Group)
        if q["active_only"]:
            query = query.where(Group.is_active == True)  # noqa: E712
        page = query.order_by(Group.name, Group.id).limit(q["limit"]).offset(q["offset"])
        return {"groups": [group_view(users, g) for g in page], "total": query.count()}

    @api.get("/api/groups/{id:int}", "modules:view", "A group with its members",
             response="Group")
    def get_group(req: Request, id: int) -> dict[str, Any]:
        return group_view(Modules(req.ctx).users, get_live(Group, id, "group"))

    register_edits(api, FleetEdits(
        "group", Group,
        create=lambda m, body, _actor: (m.users.create_group(body, origin=CENTRAL), None),
        update=lambda m, group, changes, _actor: (m.users.update_group(group, changes,
                                                                       origin=CENTRAL), None),
        delete=lambda m, group: m.users.delete_group(group, origin=CENTRAL),
        show=lambda m, group: group_view(m.users, group)),
        create_doc="409 when the name is taken. Members are added on the users.",
        delete_summary="Delete a group (a tombstone that syncs; members simply lose it)")
