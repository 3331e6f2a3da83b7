"""Who may do what: every route with every role, sessions with CSRF, tokens, login limits."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import webob

from agent.core.models import AdminUser, database
from central.__main__ import main as central_main
from central.api._common import AUTHENTICATED, PUBLIC
from central.app import make_app
from central.auth import PERMISSIONS, ROLE_PERMISSIONS, ROLES, create_user, verify_password
from central.context import CentralContext
from central.models import ApiToken, Session
from tests.central.central_support import Central, TestApp, definition, settings_for

BOTTLE_PARAM = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(:[^>]*)?>")


def concrete(rule: str) -> str:
    """A route rule with every parameter filled with an id that does not exist."""
    return BOTTLE_PARAM.sub(lambda m: "999999" if m.group(2) else "no-such-thing", rule)


@dataclass
class Answer:
    status_int: int
    json: Any


def call(app: Any, method: str, path: str, headers: dict[str, str]) -> Answer:
    """One request straight through WSGI; the body is read only for errors (streams stay
    unread)."""
    body = b"{}" if method in ("POST", "PUT", "PATCH", "DELETE") else b""
    environ = webob.Request.blank(path, method=method, headers={
        **headers, **({"Content-Type": "application/json"} if body else {})},
        body=body).environ
    statuses: list[str] = []
    out = app(environ, lambda status, _headers, _exc=None: statuses.append(status))
    try:
        status = int(statuses[0].split()[0])
        payload = json.loads(b"".join(out)) if status >= 400 else None
    finally:
        if hasattr(out, "close"):
            out.close()
    return Answer(status, payload)


def test_role_permissions_are_as_documented() -> None:
    view = {"processes:view", "modules:view", "stations:view"}
    assert {
        "viewer": view,
        "operator": view | {"processes:execute", "alerts:manage"},
        "editor": view | {"processes:create", "processes:execute", "modules:edit",
                          "alerts:manage"},
        "admin": set(PERMISSIONS),
    } == ROLE_PERMISSIONS


def test_every_route_checks_its_permission_for_every_role(sqlite_central: Central) -> None:
    central = sqlite_central
    routes = [(r.method, r.rule, r.config.get("firefly_spec")) for r in central.app.app.routes]
    assert len(routes) >= 20
    undeclared = [f"{m} {rule}" for m, rule, spec in routes if spec is None]
    assert not undeclared, f"routes not declared with central.api._common.Api: {undeclared}"
    headers = {role: central.auth(role) for role in ROLES}
    for method, rule, spec in routes:
        path = concrete(rule)
        anonymous = call(central.app.app, method, path, {})
        if spec.permission == PUBLIC:
            assert anonymous.status_int != 401, (method, rule)
            continue
        assert anonymous.status_int == 401, (method, rule, anonymous.status)
        assert anonymous.json["error"]
        for role in ROLES:
            answer = call(central.app.app, method, path, headers[role])
            allowed = spec.permission == AUTHENTICATED or spec.permission in \
                ROLE_PERMISSIONS[role]
            if allowed:
                assert answer.status_int not in (401, 403), (method, rule, role, answer.json)
            else:
                assert answer.status_int == 403, (method, rule, role, answer.status)
                assert spec.permission in answer.json["error"]


def sign_in(central: Central, username: str, password: str, status: int = 200,
            address: str = "10.0.0.1") -> Any:
    return central.app.post_json("/api/auth/login", {"username": username,
                                                     "password": password},
                                 extra_environ={"REMOTE_ADDR": address}, status=status)


def test_browser_session_with_csrf(sqlite_central: Central) -> None:
    central = sqlite_central
    with database.connection_context():
        create_user("eve", "correct horse", "editor")
    answer = sign_in(central, "eve", "correct horse")
    cookie = answer.headers["Set-Cookie"]
    assert "firefly_session=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    csrf = answer.json["csrf_token"]
    me = central.app.get("/api/auth/me").json
    assert (me["username"], me["role"], me["csrf_token"]) == ("eve", "editor", csrf)
    assert "processes:create" in me["permissions"] and "users:admin" not in me["permissions"]
    session_id = central.app.cookies["firefly_session"]
    with database.connection_context():
        assert Session.get().id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    refused = central.app.post_json("/api/processes", definition(), status=403).json
    assert "CSRF" in refused["error"]
    central.app.post_json("/api/processes", definition(), status=403,
                          headers={"X-CSRF-Token": "forged"})
    central.app.post_json("/api/processes", definition(), status=201,
                          headers={"X-CSRF-Token": csrf})
    central.app.post_json("/api/auth/logout", {}, headers={"X-CSRF-Token": csrf})
    central.app.set_cookie("firefly_session", session_id)  # a stolen cookie is now useless
    central.app.get("/api/auth/me", status=401)
    with database.connection_context():
        assert Session.select().count() == 0


def test_login_attempts_are_rate_limited(sqlite_central: Central) -> None:
    central = sqlite_central
    with database.connection_context():
        create_user("ann", "ann's password", "viewer")
        create_user("bob", "bob's password", "viewer")
    for _ in range(5):
        assert sign_in(central, "ann", "guess", 401).json == \
            {"error": "invalid username or password"}
    limited = sign_in(central, "ann", "ann's password", 429, address="10.0.0.2")
    assert limited.headers["Retry-After"] == "300"
    sign_in(central, "bob", "bob's password", 429)  # same address: limited too
    sign_in(central, "bob", "bob's password", 200, address="10.0.0.3")
    for i in range(4):
        sign_in(central, "bob", "nope", 401, address=f"10.1.0.{i}")
    sign_in(central, "bob", "bob's password", 200, address="10.1.0.9")  # success forgives
    for i in range(5):
        sign_in(central, "bob", "nope", 401, address=f"10.2.0.{i}")
    sign_in(central, "bob", "bob's password", 429, address="10.2.0.9")


def test_passwords_are_scrypt_hashes_and_no_secret_is_ever_answered(
        sqlite_central: Central) -> None:
    central = sqlite_central
    created = central.post("/api/admin/users", {"username": "carl", "password": "s3cret pass",
                                                "role": "operator"}, status=201).json
    central.post("/api/admin/users", {"username": "carl", "password": "another one",
                                      "role": "viewer"}, status=409)
    central.put(f"/api/admin/users/{created['user_id']}",
                {"role": "editor", "password": "n3w secret pass"})
    with database.connection_context():
        stored = AdminUser.get(AdminUser.username == "carl").password_hash
        token_hashes = [t.token_hash for t in ApiToken.select()]
    assert re.fullmatch(r"scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", stored)
    assert verify_password("n3w secret pass", stored)
    assert not verify_password("s3cret pass", stored)
    answers = [central.get("/api/admin/users").json, central.get("/api/audit").json,
               central.get("/api/auth/me").json,
               sign_in(central, "carl", "n3w secret pass").json]
    text = json.dumps(answers)
    for secret in ("s3cret pass", "n3w secret pass", stored, central.token("admin"),
                   *token_hashes, "password_hash"):
        assert secret not in text
    trail = central.get("/api/audit?entity=user").json["entries"]
    assert [e["action"] for e in trail] == ["update", "create"]
    assert (trail[0]["before"]["role"], trail[0]["after"]["role"]) == ("operator", "editor")


def test_the_last_admin_stays(sqlite_central: Central) -> None:
    central = sqlite_central
    central.token("admin")
    with database.connection_context():
        admin = AdminUser.get(AdminUser.role == "admin")
    central.delete(f"/api/admin/users/{admin.id}", status=409)
    central.put(f"/api/admin/users/{admin.id}", {"role": "viewer"}, status=409)
    other = central.post("/api/admin/users", {"username": "root2", "password": "long enough",
                                              "role": "admin"}, status=201).json["user_id"]
    central.delete(f"/api/admin/users/{other}")
    central.put(f"/api/admin/users/{other}", {"is_active": True})


def test_command_line_creates_an_admin_and_a_token(tmp_path: Any,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    monkeypatch.setenv("FIREFLY_DATABASE_URL", url)
    assert central_main(["migrate"]) == 0
    assert "0001_central" in capsys.readouterr().out
    assert central_main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert central_main(["admin", "create", "root", "--role", "admin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("whatever it is\n"))
    assert central_main(["admin", "create", "root", "--role", "viewer"]) == 5
    capsys.readouterr()
    assert central_main(["token", "create", "root"]) == 0
    token = capsys.readouterr().out.strip()
    assert central_main(["token", "create", "nobody"]) == 4
    ctx = CentralContext(settings=settings_for(url))
    app = TestApp(make_app(ctx.settings, ctx))
    me = app.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json
    assert (me["username"], me["role"]) == ("root", "admin")
    app.get("/api/auth/me", headers={"Authorization": f"Bearer {token}x"}, status=401)
    with database.connection_context():
        row = ApiToken.get()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert app.post_json("/api/auth/login", {"username": "root",
                                             "password": "a long password"}).json["role"] == \
        "admin"
