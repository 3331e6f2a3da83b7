"""Helpers for the central tests (import as tests.central.central_support)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any

import psycopg2

with warnings.catch_warnings():  # webob imports the deprecated cgi module
    warnings.simplefilter("ignore", DeprecationWarning)
    from webtest import TestApp

from agent.core.models import AdminUser, ProcessExecution, database, utcnow
from central.auth import create_token
from central.config import CentralSettings, load_settings
from central.context import CentralContext

PG_URL = os.environ.get("FIREFLY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HISTORY_TABLES = ("schema_migration", "central_schema_migration")

__all__ = ["PG_URL", "Central", "TestApp", "definition", "empty_postgres_schema", "seed",
           "settings_for"]


@dataclass
class Central:
    """The app in-process (WebTest), its context, and credentials per role."""

    app: TestApp
    ctx: CentralContext
    _tokens: dict[str, str] = field(default_factory=dict)

    def user(self, username: str, role: str, password_hash: str = "!") -> AdminUser:
        """A user (by default one that cannot sign in with a password: cheap to make)."""
        with database.connection_context():
            user: AdminUser = AdminUser.create(username=username, role=role,
                                               password_hash=password_hash)
        return user

    def token(self, role: str) -> str:
        if role not in self._tokens:
            user = self.user(f"{role}-{secrets.token_hex(3)}", role)
            with database.connection_context():
                self._tokens[role] = create_token(user, f"test {role}")[1]
        return self._tokens[role]

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def get(self, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.app.get(url, headers=self.auth(role), **kw)

    def post(self, url: str, body: Any = None, role: str = "admin", **kw: Any) -> Any:
        return self.app.post_json(url, {} if body is None else body, headers=self.auth(role),
                                  **kw)

    def put(self, url: str, body: Any, role: str = "admin", **kw: Any) -> Any:
        return self.app.put_json(url, body, headers=self.auth(role), **kw)

    def delete(self, url: str, role: str = "admin", **kw: Any) -> Any:
        return self.app.delete(url, headers=self.auth(role), **kw)


def settings_for(url: str, **env: str) -> CentralSettings:
    return load_settings(None, {"FIREFLY_DATABASE_URL": url, **env})


def definition(name: str = "Check-in", stations: list[str] | None = None,
               **extra: Any) -> dict[str, Any]:
    """A small valid process definition."""
    return {
        "name": name,
        "description": "evening check-in",
        "stations": stations if stations is not None else ["st-north"],
        "triggers": [{"trigger_type": "manual"}],
        "actions": [{"action_type": "log", "action_config": {"message": "hello {{ event.who }}"}},
                    {"action_type": "create_alert",
                     "action_config": {"title": "Check-in", "severity": "info"}}],
        **extra,
    }


def seed(process_id: int, status: str, *, ms: int | None = 100, error: str | None = None,
         started: dt.datetime | None = None, trigger: str = "manual",
         station: str = "st-north") -> ProcessExecution:
    """An execution as the sync's ingest stores it."""
    with database.connection_context():
        return ProcessExecution.create(process_id=process_id, status=status,
                                       execution_time_ms=ms, error_message=error,
                                       started_at=started or utcnow(), trigger_type=trigger,
                                       station_id=station, process_uid=f"p{process_id}")


def empty_postgres_schema(url: str) -> None:
    schema = url.rpartition("schema=")[2]
    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        tables = [t for (t,) in cur.fetchall() if t not in HISTORY_TABLES]
        if tables:
            cur.execute("TRUNCATE " + ", ".join(f"{schema}.{t}" for t in tables)
                        + " RESTART IDENTITY CASCADE")
    conn.close()
