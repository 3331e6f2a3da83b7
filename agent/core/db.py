"""Opening a database by URL, with the pragmas a Raspberry Pi needs, and running migrations.

``sqlite:///path`` (or a plain path) opens SQLite in WAL mode with ``synchronous=FULL`` so a
committed execution survives a power loss; ``postgresql://user@host:port/name`` opens
PostgreSQL (central only). Migrations are numbered scripts run by ``playhouse.migrations``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.migrations import Runner

from agent.core.models import database

SQLITE_PRAGMAS = {
    "auto_vacuum": "incremental",  # first: only a new, empty file takes it (WAL writes page 1)
    "journal_mode": "wal",
    "synchronous": "full",  # a commit survives power loss, not only a crash
    "foreign_keys": 1,
    "busy_timeout": 5000,
    "cache_size": -8000,  # 8 MiB: small on a Pi
}

CORE_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def open_database(url: str) -> Database:
    """Open (not yet connect) the database named by ``url``."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlparse(url)
        return PostgresqlDatabase(
            (parts.path or "/").lstrip("/") or "postgres",
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
        )
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: a transaction takes the write lock when it begins and waits for it (timeout),
    # instead of failing with "database is locked" when another connection wrote between its
    # first read and its first write (SQLite cannot upgrade a stale read snapshot).
    return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=10,
                          lock_type="IMMEDIATE")


def bind(db: Database) -> None:
    """Point the shared models at ``db`` (once per OS process)."""
    database.initialize(db)


def migrate(db: Database, directories: Iterable[tuple[Path, str]] = ()) -> list[str]:
    """Apply pending migrations: the core ones, then each (directory, history table) given."""
    applied: list[str] = []
    for directory, table in ((CORE_MIGRATIONS, "schema_migration"), *directories):
        applied += Runner(db, str(directory), table_name=table).up()
    return applied


def open_and_migrate(url: str, directories: Iterable[tuple[Path, str]] = ()) -> Database:
    db = open_database(url)
    bind(db)
    db.connect(reuse_if_open=True)
    migrate(db, directories)
    return db
