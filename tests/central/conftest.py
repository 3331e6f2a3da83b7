"""Central API fixtures: the app on SQLite and on PostgreSQL, users and tokens per role.

``central`` is parametrised over both databases. PostgreSQL runs in a schema of its own per
test session (``?schema=`` in the URL), emptied before each test and dropped at the end, so
runs never see each other. Without a reachable server the PostgreSQL variant is skipped,
unless the environment variable CI is set (then it fails).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from central.app import make_app
from central.context import CentralContext
from tests.central.central_support import (
    PG_URL,
    Central,
    TestApp,
    empty_postgres_schema,
    settings_for,
)
from tests.support import unavailable


def postgres_unreachable() -> str | None:
    try:
        psycopg2.connect(PG_URL, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL at {PG_URL} unreachable: {str(exc).strip()}"
    return None


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    reason = postgres_unreachable()
    if reason is not None:
        unavailable(reason)
    schema = f"central_test_{os.getpid()}_{secrets.token_hex(3)}"
    yield f"{PG_URL}?schema={schema}"
    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    from central.db import open_url

    open_url(url).close_all()  # the schema exists once it was opened
    empty_postgres_schema(url)
    return url


@pytest.fixture
def central(database_url: str) -> Iterator[Central]:
    ctx = CentralContext(settings=settings_for(database_url))
    app = make_app(ctx.settings, ctx)
    yield Central(app=TestApp(app), ctx=ctx)
    if ctx.db is not None:
        ctx.db.close_all()


@pytest.fixture
def sqlite_central(tmp_path: Path) -> Iterator[Central]:
    """SQLite only: for behaviour that does not depend on the database."""
    ctx = CentralContext(settings=settings_for(f"sqlite:///{tmp_path / 'central.db'}"))
    app = make_app(ctx.settings, ctx)
    yield Central(app=TestApp(app), ctx=ctx)
    if ctx.db is not None:
        ctx.db.close_all()
