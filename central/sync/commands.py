"""Delivering ``central_commands`` to stations, and expiring those that waited too long.

A command is published to its station whenever the station is online (at its hello, and
every few seconds while it stays pending); it becomes ``delivered`` once the broker took it
for an online station, and ``done``, ``failed`` or ``expired`` when the station's result comes
back through its outbox (central/sync/merge.py). Re-sending is safe: the station carries out
a command uid at most once. A command still pending or delivered at ``expires_at`` expires;
the execution central created for a ``run`` is then marked ``dropped``.
"""

from __future__ import annotations

from typing import Any

from agent.core.models import ProcessExecution, utcnow
from central.models import CentralCommand
from central.sync.feed import write_transaction

OPEN_STATUSES = ("pending", "delivered")


def open_commands(station: str | None = None) -> list[CentralCommand]:
    query = CentralCommand.select().where(CentralCommand.status.in_(OPEN_STATUSES)
                                          & (CentralCommand.expires_at > utcnow()))
    if station is not None:
        query = query.where(CentralCommand.station_id == station)
    return list(query.order_by(CentralCommand.id))


def command_body(command: CentralCommand) -> dict[str, Any]:
    payload = command.payload if isinstance(command.payload, dict) else {}
    return {"station": command.station_id, "uid": command.uid, "kind": command.kind,
            "process_uid": command.process_uid, "execution_uid": command.execution_uid,
            "payload": payload, "expires_at": command.expires_at.isoformat()}


def mark_delivered(uids: list[str]) -> None:
    if not uids:
        return
    with write_transaction():
        CentralCommand.update(status="delivered", updated_at=utcnow()).where(
            CentralCommand.uid.in_(uids) & (CentralCommand.status == "pending")).execute()


def expire_commands() -> int:
    """Expire open commands past their time; their queued executions become dropped."""
    now = utcnow()
    due_query = CentralCommand.select().where(CentralCommand.status.in_(OPEN_STATUSES)
                                              & (CentralCommand.expires_at <= now))
    if not due_query.exists():  # the usual case: no write, no lock
        return 0
    with write_transaction():
        due = list(due_query)
        for command in due:
            CentralCommand.update(status="expired", updated_at=now).where(
                CentralCommand.id == command.id).execute()
            if command.execution_uid:
                ProcessExecution.update(
                    status="dropped", completed_at=now, updated_at=now,
                    error_message=f"not delivered: station {command.station_id} did not "
                                  "receive the command before it expired").where(
                    (ProcessExecution.uid == command.execution_uid)
                    & (ProcessExecution.status == "queued")).execute()
    return len(due)
