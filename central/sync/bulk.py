"""The ingest's SQL, on SQLite and PostgreSQL alike, written here rather than built through
peewee's query objects (building a 400-row insert that way cost about ten times more than
running it; the ingest's statements always have the same shape).

- ``insert_rows``: multi-row INSERT ... ON CONFLICT; column values go through the JSON
  fields' ``db_value`` (as peewee does), identifiers are quoted, values are parameters.
- ``run_sql``: one statement written with ``?`` placeholders.
- ``copy_rows`` (PostgreSQL): rows that cannot conflict (executions central has not stored
  yet, with ids taken from their sequence, and their steps and log lines) go in with
  ``COPY ... FROM STDIN``: the server parses no statement and plans nothing, and the worker
  joins each row's text in one go instead of binding a parameter per value. The steps' and
  log lines' parent rows are the ones the same transaction has just inserted, so their
  foreign-key checks cannot fail; ``parents_just_inserted`` skips them (about a third of
  PostgreSQL's time per record).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from itertools import chain
from typing import Any

from peewee import (
    BlobField,
    Model,
    PostgresqlDatabase,
)

from agent.core.models import JSONField, database, json_text

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


def run_sql(sql: str, params: Sequence[Any] = ()) -> Any:
    """Run ``sql``, written with ``?`` placeholders, on SQLite or PostgreSQL; the cursor.
    For the ingest's few statements per batch, where building them through peewee's query
    objects cost more than running them."""
    param = getattr(database.obj, "param", "?")
    return database.execute_sql(sql if param == "?" else sql.replace("?", param), params)


def full_row(model: type[Model], **values: Any) -> dict[str, Any]:
    """A row of ``model`` for ``insert_rows``: ``values``, and the model's defaults for the
    other columns (as peewee's own insert fills them)."""
    row: dict[str, Any] = {}
    for field in model._meta.sorted_fields:
        if field.name in values:
            row[field.name] = values[field.name]
        elif field.default is not None:
            row[field.name] = field.default() if callable(field.default) else field.default
        elif not field.primary_key:
            row[field.name] = None
    return row


def ids_by_uid(model: type[Model], uids: Iterable[str], chunk: int = 400) -> dict[str, int]:
    """The ids of ``model``'s rows with these uids (those that exist)."""
    wanted = sorted(set(uids) - {""})
    table = _quote(model._meta.table_name)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        found.update(run_sql(f'SELECT "uid", "id" FROM {table} WHERE "uid" IN '
                             f'({", ".join(["?"] * len(part))})', part).fetchall())
    return found


def copies() -> bool:
    """Whether ``copy_rows`` is available (PostgreSQL)."""
    return isinstance(database.obj, PostgresqlDatabase)


def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


# COPY's marker of NULL: what str(None) writes, so that whole rows can be joined by
# str.join(map(str, row)) in C. A text that is exactly "None" is written "\\None" (a
# backslash before a character with no escape meaning stands for the character itself, and
# the marker is matched before backslashes are read).
_NULL = "None"


def _copy_text(value: Any) -> str:
    """A value in COPY's text format, value by value: NULL, backslash escapes; a NUL, which
    PostgreSQL's text cannot hold, is refused."""
    if value is None:
        return _NULL
    if value is True or value is False:
        return "t" if value else "f"
    if value.__class__ is int:
        return str(value)
    text = _escape(str(value))
    if "\x00" in text:
        raise ValueError("copy_rows: a text holds a NUL character")
    return "\\None" if text == _NULL else text


@cache
def _copy_plan(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """(the COPY statement, the positions of the JSON columns among ``names``)."""
    fields = [model._meta.fields[n] for n in names]
    for field in fields:
        if isinstance(field, BlobField):
            raise TypeError(f"copy_rows: column {field.name} holds bytes: not supported")
    columns = ", ".join(_quote(f.column_name) for f in fields)
    sql = f"COPY {_quote(model._meta.table_name)} ({columns}) FROM STDIN WITH (NULL '{_NULL}')"
    return sql, tuple(i for i, f in enumerate(fields) if isinstance(f, JSONField))


def copy_rows(model: type[Model], names: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: ``COPY`` ``rows`` (the values of the fields ``names``, in that order: text,
    numbers, times as naive UTC text or datetimes, JSON columns as values) into ``model``'s
    table. Only for rows that cannot conflict: a duplicate fails the statement.

    Usually no value needs escaping: each row is joined in one go (in C) and the whole text
    checked at once; if something needs escaping, the rows are rendered value by value."""
    sql, json_columns = _copy_plan(model, tuple(names))
    rows = [_with_json(row, json_columns) for row in rows] if json_columns else list(rows)
    if not rows:
        return
    text = "\n".join(["\t".join(map(str, row)) for row in rows]) + "\n"
    if "\\" in text or "\r" in text or "\x00" in text or text.count("\n") != len(rows) \
            or text.count("\t") != len(rows) * (len(names) - 1) \
            or _NULL in chain.from_iterable(rows):
        text = "\n".join(["\t".join(map(_copy_text, row)) for row in rows]) + "\n"
    database.cursor().copy_expert(sql, io.StringIO(text), size=len(text))


def _with_json(row: Sequence[Any], positions: tuple[int, ...]) -> list[Any]:
    values = list(row)
    for position in positions:
        if values[position] is not None:
            values[position] = json_text(values[position])
    return values


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
