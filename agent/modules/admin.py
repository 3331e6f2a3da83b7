"""Local administration of the station's copy (the command line, without central).

The command line runs in its own process while the agent may be running: it writes the
database directly (SQLite allows it; the engine reads zones, users and bots on every event) and,
like every local edit of a fleet-owned record, writes an outbox row so the change syncs up.
Local edits made this way do not fire triggers (the engine is another process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from agent.core.db import open_and_migrate
from agent.core.models import database
from agent.engine.context import Services
from agent.modules.fleet import InvalidRecord, NotFound

T = TypeVar("T")

EXIT_OK, EXIT_INVALID, EXIT_NOT_FOUND = 0, 3, 4


def open_local(db_path: str, station_id: str) -> Services:
    """Open (and migrate) the station database; the station's module services."""
    from agent.station import make_services

    open_and_migrate(db_path)
    return make_services(station_id)


def edit(fn: Callable[[], T]) -> tuple[T | None, str | None, int]:
    """Run ``fn`` in one transaction: (result, None, 0), or (None, error, exit code)."""
    try:
        with database.atomic():
            return fn(), None, EXIT_OK
    except InvalidRecord as exc:
        return None, str(exc), EXIT_INVALID
    except NotFound as exc:
        return None, str(exc), EXIT_NOT_FOUND


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as aligned text columns."""
    if not rows:
        return "(none)"
    texts = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in texts)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
              for row in texts]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
