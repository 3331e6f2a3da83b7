"""Signing in and out of the admin page, who am I, changing one's password."""

from __future__ import annotations

import logging
from typing import Any

import bottle
from bottle import Bottle

from agent.core.models import AdminUser, database
from central.api._common import AUTHENTICATED, PUBLIC, SESSION_COOKIE, Api, ApiError, Request
from central.api._schemas import obj
from central.audit import audit
from central.auth import (
    Principal,
    authenticate,
    create_session,
    end_session,
    hash_password,
    login_blocked,
    record_login,
    verify_password,
)
from central.context import CentralContext
from central.views import user_view

_LOG = logging.getLogger(__name__)


def me_view(principal: Principal) -> dict[str, Any]:
    return {"username": principal.username, "role": principal.role,
            "permissions": sorted(principal.permissions), "csrf_token": principal.csrf_token}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="auth")
    api.schema("Login", obj({"username": {"type": "string", "minLength": 1, "maxLength": 200},
                             "password": {"type": "string", "maxLength": 1000}},
                            additionalProperties=False))
    api.schema("Me", obj({"username": {"type": "string"}, "role": {"type": "string"},
                          "permissions": {"type": "array", "items": {"type": "string"}},
                          "csrf_token": {"type": "string",
                                         "description": "send as X-CSRF-Token with every "
                                                        "change made with the session cookie"}}))
    api.schema("PasswordChange", obj({
        "current_password": {"type": "string", "maxLength": 1000},
        "new_password": {"type": "string", "minLength": 8, "maxLength": 1000}},
        additionalProperties=False))
    auth = ctx.settings.auth

    @api.post("/api/auth/login", PUBLIC, "Sign in: sets the session cookie", body="Login",
              response="Me", errors=(401, 429),
              description=f"At most {auth.login_max_failures} failed attempts per user name "
                          f"and per client address in {auth.login_window_seconds} s (then 429).")
    def login(req: Request) -> dict[str, Any]:
        username, password = req.body["username"], req.body["password"]
        address = req.address
        if login_blocked(username, address, auth.login_max_failures, auth.login_window_seconds):
            _LOG.warning("login refused (rate limit) for %r from %s", username, address)
            raise ApiError(429, "too many failed logins: try again later",
                           headers={"Retry-After": str(auth.login_window_seconds)})
        user = authenticate(username, password)
        record_login(username, address, user is not None)
        if user is None:
            _LOG.info("login failed for %r from %s", username, address)
            raise ApiError(401, "invalid username or password")
        session, session_id = create_session(user, auth.session_hours, address)
        bottle.response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True,
                                   samesite="strict", secure=auth.secure_cookie,
                                   max_age=int(auth.session_hours * 3600))
        _LOG.info("%s signed in from %s", user.username, address)
        return me_view(Principal(user.id, user.username, user.role, "session",
                                 session.csrf_token))

    @api.post("/api/auth/logout", AUTHENTICATED, "Sign out: ends the session",
              response="Message")
    def logout(req: Request) -> dict[str, Any]:
        session_id = bottle.request.get_cookie(SESSION_COOKIE)
        if session_id:
            end_session(session_id)
        bottle.response.delete_cookie(SESSION_COOKIE, path="/", httponly=True,
                                      samesite="strict", secure=auth.secure_cookie)
        return {"message": "logged out"}

    @api.get("/api/auth/me", AUTHENTICATED, "Who is signed in, with the CSRF token",
             response="Me")
    def me(req: Request) -> dict[str, Any]:
        return me_view(req.require_user())

    @api.post("/api/auth/password", AUTHENTICATED, "Change one's own password",
              body="PasswordChange", response="Message")
    def change_password(req: Request) -> dict[str, Any]:
        principal = req.require_user()
        with database.atomic():
            user = AdminUser.get_by_id(principal.user_id)
            if not verify_password(req.body["current_password"], user.password_hash):
                raise ApiError(400, "invalid request body", errors=[
                    {"path": "current_password", "reason": "wrong password"}])
            user.password_hash = hash_password(req.body["new_password"])
            user.save()
            audit(req.actor, "change_password", "user", user.uid, user_view(user),
                  user_view(user))
        return {"message": "updated"}
