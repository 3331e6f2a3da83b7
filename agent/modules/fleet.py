"""Fleet-owned records (zones, users, groups, bots): local edits, records, last-writer-wins.

One home for how such a row becomes a record (what the outbox carries, what central's feed
sends down and what its REST API returns) and how a record received from elsewhere is merged:
the change with the greater hybrid-logical-clock value wins; a tombstone is a change like any
other. Every local edit writes an outbox row in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, TypeVar

from peewee import OP, DateTimeField, Expression, Field, Value, fn

from agent.core.codec import encode
from agent.core.ids import HybridClock, parse_hlc
from agent.core.models import Outbox, json_text, utcnow
from agent.core.module_models import FLEET_MODELS, FleetRecord

_LOG = logging.getLogger(__name__)

R = TypeVar("R", bound=FleetRecord)

NAME_MAX = 100


class NotFound(LookupError):
    """No such record; the message names what was looked for."""


class InvalidRecord(ValueError):
    """A record that cannot be stored; the message names the field and the reason."""


class Conflict(InvalidRecord):
    """A record that clashes with another (a name already taken)."""


def kind_of(model: type[FleetRecord]) -> str:
    for kind, cls in FLEET_MODELS.items():
        if cls is model:
            return kind
    raise KeyError(model.__name__)


def record_of(row: FleetRecord) -> dict[str, Any]:
    """The row as a plain record: every column but the local integer id, times in ISO 8601."""
    out: dict[str, Any] = {}
    for field in row._meta.sorted_fields:
        if field.name == "id":
            continue
        value = getattr(row, field.name)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        out[field.name] = value
    return out


def save_local(row: FleetRecord, clock: HybridClock, origin: str, *, outbox: bool = True) \
        -> dict[str, Any]:
    """Save a local edit (or tombstone) of a fleet-owned record; on a station (``outbox``)
    queue it for central. Runs in the caller's transaction; returns the record."""
    row.updated_at = utcnow()
    row.hlc = clock.now()
    row.origin = origin
    row.save()
    record = record_of(row)
    if outbox:
        kind = kind_of(type(row))
        Outbox.create(kind=kind, uid=row.uid, payload=encode(kind, record))
    return record


def _newer(incoming: str, stored: str | None) -> bool:
    """Last writer wins; an empty or malformed stored clock loses to any other (the same rule
    as agent.sync.records.newer)."""
    try:
        stored_key = parse_hlc(stored) if stored else (-1, 0, "")
    except ValueError:
        stored_key = (-1, 0, stored or "")
    return parse_hlc(incoming) > stored_key


def _field_value(field: Field, value: Any) -> Any:
    if isinstance(field, DateTimeField) and isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    return value


def apply_remote(kind: str, record: dict[str, Any], clock: HybridClock | None = None) -> bool:
    """Merge a record received from elsewhere (central's feed, or a station at central).

    Last writer wins on ``hlc``: the record is applied when it is newer than the stored row
    (or there is none); otherwise the stored row is kept. Returns True when applied. Raises
    InvalidRecord for a record that is not one (unknown kind, no uid or hlc).
    """
    model = FLEET_MODELS.get(kind)
    if model is None:
        raise InvalidRecord(f"kind: unknown fleet record kind {kind!r}")
    uid, hlc = record.get("uid"), record.get("hlc")
    if not isinstance(uid, str) or not uid or not isinstance(hlc, str):
        raise InvalidRecord(f"{kind}: a record needs a uid and an hlc")
    try:
        parse_hlc(hlc)
    except ValueError:
        raise InvalidRecord(f"{kind}.hlc: {hlc!r} is not a clock value") from None
    if clock is not None:
        clock.observe(hlc)
    row = model.get_or_none(model.uid == uid)
    if row is not None and not _newer(hlc, row.hlc):
        return False
    if row is None:
        row = model(uid=uid)
    fields = {f.name: f for f in model._meta.sorted_fields if f.name != "id"}
    try:
        for name, value in record.items():
            field = fields.get(name)
            if field is None or (value is None and not field.null):
                continue
            setattr(row, name, _field_value(field, value))
    except ValueError as exc:
        raise InvalidRecord(f"{kind}: {exc}") from None
    row.save()
    return True


def live(model: type[R]) -> Any:
    """A query of the model's rows that are not tombstones."""
    return model.select().where(model.deleted == False)  # noqa: E712 - peewee expression


def list_contains(field: Field, item: str) -> Expression:
    """A pre-filter for rows whose JSON list column may hold ``item`` (a node id or uid): a
    text match on the item as JSON encodes it (LIKE wildcards in it can only add false
    positives), so callers check the decoded list too. Works on SQLite and PostgreSQL."""
    return Expression(field, OP.ILIKE, Value(f"%{json_text(item)}%", converter=False))


def find(model: type[R], ref: str | int, *, what: str) -> R:
    """A live row by uid, name (case-insensitive) or local integer id."""
    text = str(ref).strip()
    row = live(model).where(model.uid == text).first()
    if row is None:
        row = live(model).where(fn.LOWER(model.name) == text.lower()).first()  # type: ignore[attr-defined]
    if row is None and text.isdigit():
        row = live(model).where(model.id == int(text)).first()
    if row is None:
        raise NotFound(f"no {what} {str(ref)!r}")
    return row  # type: ignore[no-any-return]


def check_name(model: type[R], name: Any, *, what: str, exclude_uid: str | None = None) -> str:
    """A valid, unique (among live rows, case-insensitive) name, or InvalidRecord."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRecord("name: required")
    name = name.strip()
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise InvalidRecord(f"name: at most {NAME_MAX} printable characters")
    query = live(model).where(fn.LOWER(model.name) == name.lower())  # type: ignore[attr-defined]
    if exclude_uid is not None:
        query = query.where(model.uid != exclude_uid)
    if query.exists():
        raise Conflict(f"name: a {what} named {name!r} already exists")
    return str(name)


def check_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord("metadata: must be an object")
    if len(encode("m", value)) > 16_384:
        raise InvalidRecord("metadata: larger than 16 KiB")
    return dict(value)
