"""Multi-row INSERT ... ON CONFLICT for the ingest, on SQLite and PostgreSQL alike.

Building a 400-row insert through peewee's query objects costs about ten times more than
executing it; the ingest's statements are always the same shape, so they are written here
once: column values go through the JSON fields' ``db_value`` (as peewee does), identifiers are
quoted, values are parameters. (A COPY into a staging table, tried on PostgreSQL, was no
faster for batches of this size.)

On PostgreSQL, rows that cannot conflict (the steps and log lines of executions the same
transaction has just inserted) go in with ``COPY ... FROM STDIN`` instead (``copy_rows``):
the server parses no statement and plans nothing, and the worker builds a tab-separated text
instead of binding a parameter per value (about 40% less time per log line).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from peewee import Model, PostgresqlDatabase

from agent.core.models import JSONField, database


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


def copy_rows(model: type[Model], rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: ``COPY`` ``rows`` (dicts keyed by field name, all with the same keys) into
    ``model``'s table. Only for rows that cannot conflict: a duplicate fails the statement."""
    if not rows:
        return
    fields = model._meta.fields
    names = list(rows[0])
    columns = ", ".join(_quote(fields[n].column_name) for n in names)
    json_columns = [n for n in names if isinstance(fields[n], JSONField)]
    text = io.StringIO()
    for row in rows:
        values = {**row, **{n: fields[n].db_value(row[n]) for n in json_columns}} \
            if json_columns else row
        text.write("\t".join([_copy_text(values[n]) for n in names]))
        text.write("\n")
    text.seek(0)
    cursor = database.cursor()
    cursor.copy_expert(f"COPY {_quote(model._meta.table_name)} ({columns}) FROM STDIN", text)
