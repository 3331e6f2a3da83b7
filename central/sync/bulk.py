"""Multi-row INSERT ... ON CONFLICT for the ingest, on SQLite and PostgreSQL alike.

Building a 400-row insert through peewee's query objects costs about ten times more than
executing it; the ingest's statements are always the same shape, so they are written here
once: column values go through the JSON fields' ``db_value`` (as peewee does), identifiers are
quoted, values are parameters. (A COPY into a staging table, tried on PostgreSQL, was no
faster for batches of this size.)

On PostgreSQL, rows that cannot conflict (the steps and log lines of executions the same
transaction has just inserted) go in with ``COPY ... FROM STDIN`` instead (``copy_rows``):
the server parses no statement and plans nothing, and the worker builds a tab-separated text
instead of binding a parameter per value (about 40% less time per log line). Those rows' parent
rows are the ones the same transaction has just inserted, so their foreign-key checks cannot
fail; ``parents_just_inserted`` skips them (about a third of PostgreSQL's time per record).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from peewee import (
    AutoField,
    CharField,
    DateTimeField,
    Field,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)

from agent.core.models import JSONField, database

_LOG = logging.getLogger(__name__)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _conflict_clause(table: str, fields: dict[str, Any], conflict: str | None,
                     update: Sequence[str], where: str) -> str:
    if conflict is None:
        return ""
    if conflict == "":
        return " ON CONFLICT DO NOTHING"
    target = _quote(fields[conflict].column_name)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{_quote(fields[n].column_name)} = EXCLUDED.{_quote(fields[n].column_name)}"
                     for n in update)
    clause = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
    if where:
        clause += f" WHERE {where.replace('table.', table + '.')}"
    return clause


def insert_rows(model: type[Model], rows: Sequence[dict[str, Any]], *,
                conflict: str | None = None, update: Sequence[str] = (), where: str = "",
                returning: Sequence[str] = (), inserted: bool = False) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts keyed by field name, all with the same keys).

    ``conflict``: the unique column ("": any unique index; conflicting rows are skipped);
    with ``update`` the listed fields take the new values (``where``: an extra SQL condition
    on the stored row, ``table`` and ``EXCLUDED``), without it conflicting rows are skipped.
    ``returning``: fields of the rows written; with ``inserted`` (PostgreSQL only) each
    returned tuple ends with True for a row inserted, False for one updated.
    """
    if not rows:
        return []
    fields = model._meta.fields
    names = list(rows[0])
    table = _quote(model._meta.table_name)
    columns = ", ".join(_quote(fields[n].column_name) for n in names)
    tail = _conflict_clause(table, fields, conflict, update, where)
    if returning:
        tail += " RETURNING " + ", ".join(f"{table}.{_quote(fields[n].column_name)}"
                                          for n in returning)
        if inserted:
            tail += f", {table}.xmax = 0"  # PostgreSQL: no previous row version
    json_columns = {n for n in names if isinstance(fields[n], JSONField)}
    param = getattr(database.obj, "param", "?")
    one = "(" + ", ".join([param] * len(names)) + ")"
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(rows))}{tail}"
    if json_columns:
        params = [fields[n].db_value(row[n]) if n in json_columns else row[n]
                  for row in rows for n in names]
    else:
        params = [row[n] for row in rows for n in names]
    cursor = database.execute_sql(sql, params)
    return list(cursor.fetchall()) if returning else []


def copies() -> bool:
    """Whether ``copy_rows`` is available (PostgreSQL)."""
    return isinstance(database.obj, PostgresqlDatabase)


def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def _copy_text(value: Any) -> str:
    """A value in COPY's text format (NULL is ``\\N``; backslash escapes)."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if value.__class__ is int:
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return _escape(str(value))


def _copy_text_of(field: Field) -> Callable[[Any], str]:
    """The renderer of one column's values: the generic one, or a shortcut for the common
    column types (text and times as text, integers, JSON) that skips the type tests."""
    if isinstance(field, JSONField):
        encode = field.db_value

        def json_text(value: Any) -> str:
            text = encode(value)
            return "\\N" if text is None else _escape(text)

        return json_text
    if isinstance(field, CharField | TextField | DateTimeField):
        return lambda value: "\\N" if value is None else _escape(value) \
            if value.__class__ is str else _copy_text(value)
    if isinstance(field, IntegerField | AutoField | ForeignKeyField):
        return lambda value: "\\N" if value is None else str(value) \
            if value.__class__ is int else _copy_text(value)
    return _copy_text


@cache
def _copy_plan(model: type[Model], names: tuple[str, ...]) \
        -> tuple[str, tuple[Callable[[Any], str], ...]]:
    fields = model._meta.fields
    columns = ", ".join(_quote(fields[n].column_name) for n in names)
    sql = f"COPY {_quote(model._meta.table_name)} ({columns}) FROM STDIN"
    return sql, tuple(_copy_text_of(fields[n]) for n in names)


def copy_rows(model: type[Model], names: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: ``COPY`` ``rows`` (the values of the fields ``names``, in that order) into
    ``model``'s table. Only for rows that cannot conflict: a duplicate fails the statement."""
    sql, renders = _copy_plan(model, tuple(names))
    lines = ["\t".join([render(value) for render, value in zip(renders, row, strict=True)])
             for row in rows]
    if lines:
        lines.append("")
        text = "\n".join(lines)
        database.cursor().copy_expert(sql, io.StringIO(text), size=len(text) + 1)


def new_ids(model: type[Model], count: int) -> list[int]:
    """PostgreSQL: ``count`` fresh ids from the sequence of ``model``'s primary key (for rows
    copied in with their ids, so their children can name them)."""
    if count == 0:
        return []
    cursor = database.execute_sql(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        (model._meta.table_name, model._meta.fields["id"].column_name, count))
    return [int(pk) for (pk,) in cursor.fetchall()]


_may_skip_reference_checks: bool | None = None  # per process: found out once


def _reference_checks_skippable() -> bool:
    """Whether this connection's role may set ``session_replication_role`` (a superuser, or,
    on PostgreSQL 15 and later, a role granted ``SET`` on it)."""
    global _may_skip_reference_checks
    if _may_skip_reference_checks is None:
        cursor = database.execute_sql(
            "SELECT current_setting('is_superuser') = 'on', "
            "current_setting('server_version_num')::int >= 150000")
        superuser, has_grants = cursor.fetchone()
        if not superuser and has_grants:
            cursor = database.execute_sql(
                "SELECT has_parameter_privilege('session_replication_role', 'SET')")
            superuser = cursor.fetchone()[0]
        _may_skip_reference_checks = bool(superuser)
        if not superuser:
            _LOG.info("ingest: the database role may not set session_replication_role: "
                      "foreign keys of new steps and log lines are checked row by row "
                      "(slower; see docs/operations.md)")
    return _may_skip_reference_checks


@contextmanager
def parents_just_inserted() -> Iterator[None]:
    """PostgreSQL: within the block, rows are written without their foreign-key checks.

    Only for rows whose parent rows this same transaction has just inserted (and got the ids
    of): such a check cannot fail, since no other transaction can see those parents, let
    alone delete them. The constraints stay in force for every other write, and deleting a
    parent still cascades. It works by ``SET LOCAL session_replication_role = replica``, which
    also silences any other trigger on the tables written in the block: the tables written
    here have none (tests/sync/test_sync_reference_checks.py checks). Without the right to set it
    (``_reference_checks_skippable``) the block runs with the checks, unchanged.
    """
    global _may_skip_reference_checks
    if not copies() or not _reference_checks_skippable():
        yield
        return
    try:
        database.execute_sql("SET LOCAL session_replication_role = replica")
    except Exception:
        _may_skip_reference_checks = False  # e.g. a grant revoked: the caller's retry checks
        raise
    # If the block raises, the caller's rollback (of its transaction or savepoint) undoes the
    # SET LOCAL: a reset here would only fail in the aborted transaction and hide the cause.
    yield
    database.execute_sql("SET LOCAL session_replication_role = DEFAULT")
