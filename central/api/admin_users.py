"""Admin users (who may sign in to central) and their roles. Needs users:admin."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.models import AdminUser, database
from central.api._common import Api, ApiError, Request
from central.api._schemas import array_of, obj
from central.audit import audit
from central.auth import ROLES, create_user, hash_password
from central.context import CentralContext
from central.models import ApiToken, Session
from central.views import user_view

USERNAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\x00-\x1f]+$"}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 1000}


def find_user(user_id: int) -> AdminUser:
    user = AdminUser.get_or_none(AdminUser.id == user_id)
    if user is None:
        raise ApiError(404, f"no user {user_id}")
    return user


def _other_active_admins(user: AdminUser) -> int:
    return int(AdminUser.select().where((AdminUser.role == "admin") & AdminUser.is_active
                                        & (AdminUser.id != user.id)).count())


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="admin-users")
    api.schema("AdminUserList", obj({"users": array_of("AdminUser")}))
    api.schema("AdminUserCreate", obj({"username": USERNAME, "password": PASSWORD,
                                       "role": {"enum": list(ROLES)}},
                                      additionalProperties=False))
    api.schema("AdminUserUpdate", obj({"role": {"enum": list(ROLES)},
                                       "is_active": {"type": "boolean"}, "password": PASSWORD},
                                      required=[], additionalProperties=False))
    api.schema("AdminUserCreated", obj({"user_id": {"type": "integer"}}))

    @api.get("/api/admin/users", "users:admin", "List admin users", response="AdminUserList")
    def list_users(req: Request) -> dict[str, Any]:
        return {"users": [user_view(u) for u in AdminUser.select().order_by(AdminUser.id)]}

    @api.post("/api/admin/users", "users:admin", "Create an admin user", body="AdminUserCreate",
              response="AdminUserCreated", status=201, errors=(409,))
    def add_user(req: Request) -> dict[str, Any]:
        body = req.body
        with database.atomic():
            if AdminUser.select().where(AdminUser.username == body["username"]).exists():
                raise ApiError(409, f"user {body['username']!r} already exists")
            try:
                user = create_user(body["username"], body["password"], body["role"])
            except ValueError as exc:
                path, _, reason = str(exc).partition(": ")
                raise ApiError(400, "invalid request body",
                               errors=[{"path": path, "reason": reason}]) from None
            audit(req.actor, "create", "user", user.uid, None, user_view(user))
        return {"user_id": user.id}

    @api.put("/api/admin/users/{id:int}", "users:admin", "Change a user's role, state or "
             "password", body="AdminUserUpdate", response="Message", errors=(409,))
    def update_user(req: Request, id: int) -> dict[str, Any]:
        body = req.body
        with database.atomic():
            user = find_user(id)
            before = user_view(user)
            demoted = body.get("role", user.role) != "admin" or not body.get("is_active", True)
            if user.role == "admin" and user.is_active and demoted \
                    and not _other_active_admins(user):
                raise ApiError(409, "the last active admin cannot be demoted or deactivated")
            user.role = body.get("role", user.role)
            user.is_active = body.get("is_active", user.is_active)
            if "password" in body:
                user.password_hash = hash_password(body["password"])
            user.save()
            if not user.is_active or "password" in body:
                Session.delete().where(Session.user == user.id).execute()
            if not user.is_active:
                ApiToken.update(revoked=True).where(ApiToken.user == user.id).execute()
            after = {**user_view(user), **({"password": "changed"} if "password" in body
                                           else {})}
            audit(req.actor, "update", "user", user.uid, before, after)
        return {"message": "updated"}

    @api.delete("/api/admin/users/{id:int}", "users:admin",
                "Deactivate a user (ends its sessions, revokes its tokens)", response="Message",
                errors=(409,))
    def deactivate_user(req: Request, id: int) -> dict[str, Any]:
        with database.atomic():
            user = find_user(id)
            if user.role == "admin" and user.is_active and not _other_active_admins(user):
                raise ApiError(409, "the last active admin cannot be deactivated")
            before = user_view(user)
            user.is_active = False
            user.save()
            Session.delete().where(Session.user == user.id).execute()
            ApiToken.update(revoked=True).where(ApiToken.user == user.id).execute()
            audit(req.actor, "deactivate", "user", user.uid, before, user_view(user))
        return {"message": "deactivated"}
