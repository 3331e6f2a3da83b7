"""Users: people with mesh nodes and their groups (list, get, create, update, delete)."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.module_models import NOTIFICATION_CHANNELS, User
from agent.modules.fleet import InvalidRecord, NotFound, list_contains, live
from agent.modules.users import (
    MAX_GROUPS_PER_USER,
    MAX_NODES_PER_USER,
    UserService,
    normalise_node_id,
)
from central.api._common import Api, ApiError, Query, Request
from central.api._fleet import (
    CENTRAL,
    FLEET_PROPERTIES,
    METADATA,
    NAME,
    PAGE,
    FleetEdits,
    Modules,
    get_live,
    not_found,
    register_edits,
    register_schemas,
    view,
)
from central.api._schemas import obj
from central.context import CentralContext

NODE_ID = {"type": "string", "pattern": "^![0-9a-fA-F]{8}$"}
USER_FIELDS: dict[str, Any] = {
    "name": NAME,
    "node_ids": {"type": "array", "items": NODE_ID, "maxItems": MAX_NODES_PER_USER,
                 "description": "the person's mesh nodes; a node belongs to one user"},
    "groups": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200},
               "maxItems": MAX_GROUPS_PER_USER, "description": "group names or uids"},
    "channels": {"type": "array", "items": {"enum": list(NOTIFICATION_CHANNELS)},
                 "uniqueItems": True, "description": "how notifications reach this user"},
    "is_active": {"type": "boolean"},
    "metadata": METADATA,
}
STRINGS = {"type": "array", "items": {"type": "string"}}
USER = obj({**FLEET_PROPERTIES, "name": {"type": "string"}, "node_ids": STRINGS,
            "groups": {**STRINGS, "description": "group uids"},
            "group_names": STRINGS, "channels": STRINGS, "is_active": {"type": "boolean"},
            "metadata": {"type": ["object", "null"]}})


def user_view(users: UserService, user: User) -> dict[str, Any]:
    return view(user, group_names=users.group_names(user))


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="users")
    register_schemas(api, "user", USER, USER_FIELDS)

    @api.get("/api/users", "modules:view", "List users",
             query=[*PAGE, Query("group", str, None, "members of this group (name or uid)",
                                 max_length=200),
                    Query("node_id", str, None, "the user owning this node", max_length=20),
                    Query("active_only", bool, False, "only active users")],
             response="UserList", errors=(404,))
    def list_users(req: Request) -> dict[str, Any]:
        q, users = req.query, Modules(req.ctx).users
        query = live(User)
        if q["group"]:
            try:
                group = users.find_group(q["group"])
            except NotFound as exc:
                raise not_found(exc) from None
            # a quoted uid in the JSON list: an exact match (uids hold no LIKE wildcards)
            query = query.where(list_contains(User.groups, group.uid))
        if q["node_id"]:
            try:
                node_id = normalise_node_id(q["node_id"])
            except InvalidRecord as exc:
                raise ApiError(400, "invalid query", errors=[
                    {"path": "query.node_id", "reason": str(exc)}]) from None
            query = query.where(list_contains(User.node_ids, node_id))
        if q["active_only"]:
            query = query.where(User.is_active == True)  # noqa: E712
        page = query.order_by(User.name, User.id).limit(q["limit"]).offset(q["offset"])
        return {"users": [user_view(users, u) for u in page], "total": query.count()}

    @api.get("/api/users/{id:int}", "modules:view", "A user", response="User")
    def get_user(req: Request, id: int) -> dict[str, Any]:
        return user_view(Modules(req.ctx).users, get_live(User, id, "user"))

    register_edits(api, FleetEdits(
        "user", User,
        create=lambda m, body, actor: m.users.create_user(body, origin=CENTRAL, by=actor),
        update=lambda m, user, changes, actor: m.users.update_user(user, changes, origin=CENTRAL,
                                                                by=actor),
        delete=lambda m, user: m.users.delete_user(user, origin=CENTRAL),
        show=lambda m, user: user_view(m.users, user)),
        create_doc="409 when the name is taken.",
        update_doc="Rename, change nodes, groups (a user_group_changed event), channels, "
                   "metadata. Send the hlc you edited to be told (409) of a concurrent change.")
