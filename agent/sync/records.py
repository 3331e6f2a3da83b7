"""Fleet-owned records as the sync carries them, and the last-writer-wins rule.

One home for: how a process or a template becomes a sync record (what a station sends up when
a field admin edits it, and what central's feed sends down), and how two versions are
compared. Zones, users, groups and bots use agent.modules.fleet (record_of / apply_remote),
which follows the same rule.

The rule: the version with the greater hybrid-logical-clock value (``hlc``) wins; a delete is
a tombstone (``deleted: true``) with its own ``hlc`` and wins or loses like an edit. An empty
``hlc`` (a row written before clocks existed) loses to any other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import DateTimeField, Model

from agent.core.ids import parse_hlc
from agent.core.models import Process, ProcessTemplate
from agent.processes import definition_of


def hlc_key(value: str | None) -> tuple[int, int, str]:
    """A sortable key of an hlc string; an empty or malformed one sorts first."""
    if not value:
        return (-1, 0, "")
    try:
        return parse_hlc(value)
    except ValueError:
        return (-1, 0, value)


def newer(incoming: str | None, stored: str | None) -> bool:
    """Whether ``incoming`` wins over ``stored`` (last writer wins; equal: no change)."""
    return hlc_key(incoming) > hlc_key(stored)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_time(value: Any) -> dt.datetime | None:
    """A naive UTC datetime from an ISO 8601 string (None or malformed: None)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def process_record(process: Process) -> dict[str, Any]:
    """A process as a sync record: its metadata and (unless deleted) its definition."""
    return {
        "uid": process.uid,
        "hlc": process.hlc,
        "deleted": bool(process.deleted),
        "origin": process.origin,
        "version": process.version,
        "updated_at": iso(process.updated_at),
        "stations": process.stations,
        "definition": None if process.deleted else definition_of(process),
    }


def template_record(template: ProcessTemplate) -> dict[str, Any]:
    return model_record(template)


def model_record(row: Model) -> dict[str, Any]:
    """Every column but the local integer id, times in ISO 8601."""
    out: dict[str, Any] = {}
    for field in row._meta.sorted_fields:
        if field.name == "id":
            continue
        value = getattr(row, field.name)
        out[field.name] = iso(value) if isinstance(value, dt.datetime) else value
    return out


def apply_model_record(model: type[Model], record: dict[str, Any],
                       skip: tuple[str, ...] = ("id",)) -> bool:
    """Merge a record into ``model`` by uid, last writer wins on hlc. True when applied."""
    uid, hlc = record.get("uid"), record.get("hlc")
    if not isinstance(uid, str) or not uid or not isinstance(hlc, str):
        raise ValueError(f"{model.__name__}: a record needs a uid and an hlc")
    row = model.get_or_none(model.uid == uid)  # type: ignore[attr-defined]
    if row is not None and not newer(hlc, getattr(row, "hlc", "")):
        return False
    if row is None:
        row = model(uid=uid)
    for field in model._meta.sorted_fields:
        if field.name in skip or field.name not in record:
            continue
        value = record[field.name]
        if isinstance(field, DateTimeField):
            value = parse_time(value) if value is not None else None
            if value is None and not field.null:
                continue
        setattr(row, field.name, value)
    row.save()
    return True
