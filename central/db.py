"""Central's database: the shared models and central's own, on SQLite or PostgreSQL.

A PostgreSQL URL may name a schema: ``postgresql://user@host/db?schema=central`` (created if
missing, and put first on every connection's search_path), so one database can hold several
independent centrals (or test runs).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from peewee import Database
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from agent.core.db import SQLITE_PRAGMAS, bind, migrate

CENTRAL_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CENTRAL_HISTORY_TABLE = "central_schema_migration"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def migrate_central(db: Database) -> list[str]:
    """Apply the agent's core migrations, then central's; returns what was applied."""
    return migrate(db, [(CENTRAL_MIGRATIONS, CENTRAL_HISTORY_TABLE)])


def open_url(url: str, *, max_connections: int = 64) -> Database:
    """Open (not connect) the database of ``url`` with a connection pool.

    Central opens a connection per request: pooled, a request costs no connect (SQLite
    pragmas, a PostgreSQL backend) and no close (SQLite checkpoints the WAL when its last
    connection closes). The PostgreSQL schema of ``?schema=`` is created if missing.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        sqlite: Database = PooledSqliteDatabase(
            path, pragmas=SQLITE_PRAGMAS, check_same_thread=False,
            max_connections=max_connections, stale_timeout=300, timeout=10,
            lock_type="IMMEDIATE")  # wait for the write lock rather than fail (see agent.core.db)
        return sqlite
    schema = parse_qs(parts.query).get("schema", [""])[0]
    db: Database = PooledPostgresqlDatabase(
        (parts.path or "/").lstrip("/") or "postgres",
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        max_connections=max_connections, stale_timeout=300)
    if schema:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"database.url: schema {schema!r} is not a plain lower-case name")
        db.connect_params["options"] = f"-c search_path={schema}"
        with db.connection_context():
            db.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # type: ignore[no-untyped-call]
    return db


def open_central_database(url: str, *, run_migrations: bool = True) -> Database:
    """Open the database named by ``url``, bind the models to it and migrate it."""
    db = open_url(url)
    bind(db)
    if run_migrations:
        with db.connection_context():
            migrate_central(db)
    return db
