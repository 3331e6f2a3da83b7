"""Central's database: the shared models and central's own, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from agent.core.db import bind, migrate, open_database

CENTRAL_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CENTRAL_HISTORY_TABLE = "central_schema_migration"


def migrate_central(db: Database) -> list[str]:
    """Apply the agent's core migrations, then central's; returns what was applied."""
    return migrate(db, [(CENTRAL_MIGRATIONS, CENTRAL_HISTORY_TABLE)])


def open_central_database(url: str, *, run_migrations: bool = True) -> Database:
    """Open the database named by ``url``, bind the models to it and migrate it."""
    db = open_database(url)
    bind(db)
    if run_migrations:
        with db.connection_context():
            migrate_central(db)
    return db
