"""Turning a record from a station into a row a model accepts, or a reason why not.

A station's record is hostile input: every value is checked against the column it goes to
(type, size, allowed words), so a bad record is rejected with a reason instead of failing the
database transaction of its whole batch. The rules come from the peewee fields themselves:
``record_type`` compiles a model into a msgspec ``Struct`` type once, and msgspec decodes a
record's msgpack straight into it, checking every value in C on the way (the ingest checks
hundreds of thousands of values a second). What msgspec cannot say, ``finish`` checks after:
times are turned into naive UTC text within the years central stores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
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


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (peewee's typing does not follow ``.tuples()``)."""
    return list(query.tuples())


# Per record type: its time fields, its text fields and its lists of child records (set by
# record_type).
_TIMES: dict[type[msgspec.Struct], tuple[str, ...]] = {}
_TEXTS: dict[type[msgspec.Struct], tuple[str, ...]] = {}
_CHILDREN: dict[type[msgspec.Struct], tuple[str, ...]] = {}
_JSON = msgspec.json.Encoder()


def _text(limit: int, min_length: int = 0) -> Any:
    return Annotated[str, Meta(min_length=min_length, max_length=limit)]


def _value_type(field: Field, required: bool) -> Any:
    """The msgspec type of a column's values (order matters: JSONField is a TextField,
    BigIntegerField an IntegerField)."""
    if isinstance(field, JSONField):
        return Any
    if isinstance(field, CharField):
        return _text(field.max_length or 255, 1 if required else 0)
    if isinstance(field, TextField):
        return _text(TEXT_MAX, 1 if required else 0)
    if isinstance(field, BooleanField):
        return bool
    if isinstance(field, BigIntegerField):
        return Annotated[int, Meta(ge=-INT64 - 1, le=INT64)]
    if isinstance(field, IntegerField):
        return Annotated[int, Meta(ge=-INT32 - 1, le=INT32)]
    if isinstance(field, FloatField):  # finite: NaN and infinities fail both bounds
        return Annotated[float, Meta(ge=-1.7e308, le=1.7e308)]
    if isinstance(field, DateTimeField):
        return dt.datetime  # RFC 3339; ``finish`` makes it naive UTC text
    if isinstance(field, BlobField):
        return bytes
    raise TypeError(f"column type {type(field).__name__} is not accepted")


def record_type(model: type[Model], *, exclude: Iterable[str] = ("id",),
                required: Iterable[str] = ("uid",),
                enums: Mapping[str, Iterable[str]] | None = None,
                children: Mapping[str, type[msgspec.Struct]] | None = None) \
        -> type[msgspec.Struct]:
    """The msgspec type of ``model``'s records: a field per column not in ``exclude``, in the
    model's column order, then a list field per entry of ``children``.

    Unknown keys are ignored; a missing column gets the model's default (or None when the
    column allows it); a column with neither, or named in ``required`` (text: not empty),
    must be given. ``enums`` limits columns to a set of words. A column that does not allow
    NULL refuses an explicit null.
    """
    must, skip = set(required), set(exclude)
    allowed = dict(enums or {})
    fields: list[tuple[str, Any, Any]] = []
    times: list[str] = []
    texts: list[str] = []
    for field in model._meta.sorted_fields:
        if field.name in skip:
            continue
        kind = (Literal[tuple(allowed[field.name])] if field.name in allowed  # type: ignore[misc]
                else _value_type(field, field.name in must))
        if isinstance(field, DateTimeField):
            times.append(field.name)
        elif isinstance(field, CharField | TextField) and not isinstance(field, JSONField):
            texts.append(field.name)
        if field.null:
            kind = kind | None
        if field.name in must or (field.default is None and not field.null):
            fields.append((field.name, kind, msgspec.NODEFAULT))
        elif callable(field.default):
            fields.append((field.name, kind, msgspec.field(default_factory=field.default)))
        else:
            fields.append((field.name, kind, field.default))
    for name, child in (children or {}).items():
        fields.append((name, list[child], msgspec.field(default_factory=list)))  # type: ignore[valid-type]
    # gc=False: a decoded record cannot be part of a reference cycle, so the collector need
    # not track the hundreds of thousands of them the ingest makes a minute.
    struct = msgspec.defstruct(f"{model.__name__}Record", fields, kw_only=True, gc=False)
    _TIMES[struct] = tuple(times)
    _TEXTS[struct] = tuple(texts)
    _CHILDREN[struct] = tuple((children or {}).keys())
    return struct


def reason_of(error: msgspec.ValidationError, where: str) -> str:
    """``where.path: what`` from msgspec's ``what - at `$.path```."""
    text = str(error)
    what, at, path = text.rpartition(" - at `")
    if not at:
        what, path = text, "$"
    return f"{where}{path.rstrip('`')[1:]}: {what}"


def finish(record: msgspec.Struct, where: str) -> None:
    """Check what msgspec could not, in ``record`` and its children: no NUL character in a
    text (PostgreSQL's text cannot hold one), times within the years central stores. Turn the
    times into naive UTC text, ``YYYY-MM-DD HH:MM:SS[.ffffff]``: what peewee writes to SQLite
    for a datetime and what PostgreSQL reads."""
    # A NUL in any text of the record shows in its JSON as \u0000 (a regular expression per
    # text, in msgspec, cost a tenth of the ingest); the search finds where.
    try:
        as_json = _JSON.encode(record)
    except (TypeError, ValueError) as exc:  # e.g. a map keyed by lists, in a JSON column
        raise RecordError(f"{where}: not storable as JSON: {exc}") from None
    if b"\\u0000" in as_json:
        _no_nul(record, where)
        for name in _CHILDREN[type(record)]:
            for index, child in enumerate(getattr(record, name)):
                _no_nul(child, f"{where}.{name}[{index}]")
    _finish_times(record, where)
    for name in _CHILDREN[type(record)]:
        for index, child in enumerate(getattr(record, name)):
            _finish_times(child, where, name, index)


def _no_nul(record: msgspec.Struct, where: str) -> None:
    for name in _TEXTS[type(record)]:
        value = getattr(record, name)
        if value is not None and "\x00" in value:
            raise RecordError(f"{where}.{name}: NUL characters are not allowed")


def _finish_times(record: msgspec.Struct, where: str, within: str = "", index: int = 0) \
        -> None:
    """The times of ``record``, which is ``where`` or (``within`` given) the ``index``-th of
    its list ``within``."""
    for name in _TIMES[type(record)]:
        value = getattr(record, name)
        if value is None or value.__class__ is str:  # finished already (a retry)
            continue
        if value.tzinfo is not None:
            try:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:  # past year 9999 in UTC
                value = None
        if value is None or not 1970 <= value.year <= 9999:
            path = f"{where}.{within}[{index}]" if within else where
            raise RecordError(f"{path}.{name}: time out of range")
        setattr(record, name, _time_text(value))


def _time_text(value: dt.datetime) -> str:
    """``str(value)`` of a naive datetime, four times faster: msgspec writes the same digits
    (``"YYYY-MM-DDTHH:MM:SS[.ffffff]"``) in C, where ``str`` goes through ``sprintf``."""
    text = _JSON.encode(value).decode()
    return text[1:11] + " " + text[12:-1]


def row_of(record: msgspec.Struct) -> dict[str, Any]:
    """A finished record's columns as a dict keyed by field name (children left out)."""
    row = msgspec.structs.asdict(record)
    for name in _CHILDREN[type(record)]:
        del row[name]
    return row


def columns_of(record_kind: type[msgspec.Struct]) -> tuple[str, ...]:
    """The column fields of a record type, in order (children left out)."""
    skip = set(_CHILDREN[record_kind])
    return tuple(n for n in record_kind.__struct_fields__ if n not in skip)
