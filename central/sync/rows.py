"""Turning a record from a station into a row a model accepts, or a reason why not.

A station's record is hostile input: every value is checked against the column it goes to
(type, size, allowed words), so a bad record is rejected with a reason instead of failing the
database transaction of its whole batch. The rules come from the peewee fields themselves and
are compiled once per model (the ingest checks tens of thousands of values a second).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from peewee import (
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

from agent.core.models import JSONField

INT32 = 2**31 - 1
INT64 = 2**63 - 1
TEXT_MAX = 100_000


class RecordError(ValueError):
    """A record that cannot be stored: ``path: reason``."""


class _Bad(ValueError):
    """A value's reason, before the path is known."""


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (peewee's typing does not follow ``.tuples()``)."""
    return list(query.tuples())


def _text(limit: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _Bad(f"expected text, got {type(value).__name__}")
        if len(value) > limit:
            raise _Bad(f"longer than {limit} characters")
        if "\x00" in value:
            raise _Bad("NUL characters are not allowed")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Bad("invalid Unicode") from None
        return value

    return check


def _int(limit: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if value.__class__ is not int:  # bool is not accepted
            raise _Bad("expected an integer")
        if not -limit - 1 <= value <= limit:
            raise _Bad("integer out of range")
        return int(value)

    return check


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(float(value)):
        raise _Bad("expected a finite number")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("expected true or false")
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise _Bad("expected bytes")
    return value


def _any(value: Any) -> Any:
    return value


def _time(value: Any) -> str:
    """A time as stored: naive UTC text, ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (what peewee writes
    to SQLite for a datetime, and what PostgreSQL reads). Text, not a datetime: turning a
    datetime back into text (``isoformat``) was a tenth of the ingest's CPU time."""
    if not isinstance(value, str):
        raise _Bad("expected an ISO 8601 time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{value[:40]!r} is not an ISO 8601 time") from None
    naive = parsed.tzinfo is None
    if not naive:
        try:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # past year 9999 in UTC
            raise _Bad("time out of range") from None
    if not 1970 <= parsed.year <= 9999:
        raise _Bad("time out of range")
    if naive and _in_station_form(value):  # the usual case: only the separator differs
        return value[:10] + " " + value[11:]
    return str(parsed)


def _in_station_form(value: str) -> bool:
    """Whether a valid naive ISO 8601 time is in the stations' form (``isoformat()``:
    ``YYYY-MM-DDTHH:MM:SS`` and, unless zero, ``.ffffff``). Positions only: the digits were
    checked by ``fromisoformat``."""
    return (len(value) == 19 or (len(value) == 26 and value[19] == ".")) \
        and value[4] == "-" and value[7] == "-" and value[10] == "T" \
        and value[13] == ":" and value[16] == ":"


def _converter(field: Field) -> Callable[[Any], Any]:
    """The check for a column (order matters: JSONField is a TextField, BigInteger an Integer)."""
    if isinstance(field, JSONField):
        return _any
    if isinstance(field, CharField):
        return _text(field.max_length or 255)
    if isinstance(field, TextField):
        return _text(TEXT_MAX)
    if isinstance(field, BooleanField):
        return _bool
    if isinstance(field, BigIntegerField):
        return _int(INT64)
    if isinstance(field, IntegerField):
        return _int(INT32)
    if isinstance(field, FloatField):
        return _float
    if isinstance(field, DateTimeField):
        return _time
    if isinstance(field, BlobField):
        return _bytes
    raise TypeError(f"column type {type(field).__name__} is not accepted")


_Column = tuple[str, Callable[[Any], Any], Any, bool, frozenset[str] | None]


@cache
def _plan(model: type[Model], exclude: frozenset[str],
          enums: tuple[tuple[str, frozenset[str]], ...]) -> tuple[_Column, ...]:
    allowed = dict(enums)
    return tuple((f.name, _converter(f), f.default, bool(f.null), allowed.get(f.name))
                 for f in model._meta.sorted_fields if f.name not in exclude)


class RowSpec:
    """How records become rows of one model (compiled once; call it per record).

    Unknown keys are ignored; a missing column gets the model's default (or None when the
    column allows it); a missing column with neither, or one named in ``required``, is an
    error. ``enums`` limits columns to a set of words.
    """

    def __init__(self, model: type[Model], *, exclude: Iterable[str] = ("id",),
                 required: Iterable[str] = ("uid",),
                 enums: Mapping[str, Iterable[str]] | None = None) -> None:
        self.required = tuple(required)
        self.plan = _plan(model, frozenset(exclude),
                          tuple((k, frozenset(v)) for k, v in sorted((enums or {}).items())))

    def __call__(self, record: Any, where: str) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError(f"{where}: not a map")
        for name in self.required:
            if record.get(name) in (None, ""):
                raise RecordError(f"{where}.{name}: required")
        return _convert(self.plan, record, where)


def _convert(plan: tuple[_Column, ...], record: dict[str, Any], where: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, convert, default, null, allowed in plan:
        value = record.get(name)
        if value is None:
            if default is not None:
                row[name] = default() if callable(default) else default
            elif null:
                row[name] = None
            else:
                raise RecordError(f"{where}.{name}: required")
            continue
        try:
            value = convert(value)
        except _Bad as exc:
            raise RecordError(f"{where}.{name}: {exc}") from None
        if allowed is not None and value not in allowed:
            raise RecordError(f"{where}.{name}: {str(value)[:40]!r} is not one of "
                              f"{', '.join(sorted(allowed))}")
        row[name] = value
    return row
