"""Commands for field stations (run, pause, resume), queued in ``central_commands``.

Central writes a pending row; the sync delivers it over MQTT and updates its status
(pending -> delivered -> done | failed; pending past ``expires_at`` -> expired).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent.core.models import utcnow
from central.models import COMMAND_KINDS, CentralCommand


def queue_command(kind: str, station_id: str, process_uid: str, *,
                  execution_uid: str | None = None, payload: dict[str, Any] | None = None,
                  expire_hours: float = 24.0) -> CentralCommand:
    """A pending command for ``station_id`` (call inside the transaction of the change)."""
    if kind not in COMMAND_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(COMMAND_KINDS)}")
    now = utcnow()
    return CentralCommand.create(kind=kind, station_id=station_id, process_uid=process_uid,
                                 execution_uid=execution_uid, payload=payload or {},
                                 status="pending", created_at=now, updated_at=now,
                                 expires_at=now + dt.timedelta(hours=expire_hours))


def expire_commands() -> int:
    """Mark pending commands past their expiry as expired; returns how many."""
    now = utcnow()
    return int(CentralCommand.update(status="expired", updated_at=now)
               .where((CentralCommand.status == "pending")
                      & (CentralCommand.expires_at <= now)).execute())
