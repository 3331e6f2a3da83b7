"""Commands from central carried out on the station (engine thread).

``run`` starts the process now with central's execution uid (central already shows that
execution as queued; the station's execution row gets the same uid, so central's ingest
updates it); ``pause`` and ``resume`` go to Engine.set_paused. Each command is carried out at
most once: its uid is recorded in ``sync_commands`` together with the result, and the result
goes up through the outbox (kind ``command``) in the same transaction. A command past its
``expires_at`` is not carried out (result ``expired``).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from agent.core.codec import encode
from agent.core.models import Outbox, Process, ProcessExecution, database, utcnow
from agent.sync.models import SyncCommand
from agent.sync.records import parse_time

_LOG = logging.getLogger(__name__)


class CommandHandler:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.station_id: str = engine.services.station_id
        self._in_flight: set[str] = set()

    def handle(self, body: dict[str, Any]) -> str | None:
        """Carry out a checked command body; the result, or None for a repeat (engine thread)."""
        uid = body["uid"]
        if uid in self._in_flight or SyncCommand.select().where(SyncCommand.uid == uid).exists():
            _LOG.info("sync: command %s already handled; ignored", uid)
            return None
        expires = parse_time(body["expires_at"])
        if expires is None or expires <= utcnow():
            return self.finish(body, "expired", f"expired at {body['expires_at']}")
        process_uid = body["process_uid"]
        process = Process.get_or_none((Process.uid == process_uid) & ~Process.deleted)
        if process is None:
            return self.finish(body, "failed", f"no process {process_uid!r} on station "
                                               f"{self.station_id}")
        if body["kind"] == "run":
            return self._run(body)
        paused = body["kind"] == "pause"
        reason = "paused by central" if paused else ""
        self.engine.set_paused(process_uid, paused, reason)
        return self.finish(body, "done", "paused" if paused else "resumed")

    def _run(self, body: dict[str, Any]) -> str:
        execution_uid = body.get("execution_uid") or ""
        if execution_uid and ProcessExecution.select().where(
                ProcessExecution.uid == execution_uid).exists():
            return self.finish(body, "done", "the execution already exists", execution_uid)
        payload = body.get("payload") or {}
        data = payload.get("trigger_data", payload.get("data"))
        data = data if isinstance(data, dict) else {}
        triggered_by = str(payload.get("triggered_by") or "central")
        handle = self.engine.run_process(body["process_uid"], data, triggered_by=triggered_by,
                                         source="central", execution_uid=execution_uid)
        self._in_flight.add(body["uid"])

        def created(future: Future[int]) -> None:
            self.engine.call(lambda: self._created(body, future))

        handle.created.add_done_callback(created)
        return "running"

    def _created(self, body: dict[str, Any], future: Future[int]) -> None:
        self._in_flight.discard(body["uid"])
        try:
            execution_id = future.result()
        except Exception as exc:  # noqa: BLE001 - the engine's refusal is the result
            self.finish(body, "failed", str(exc))
            return
        execution = ProcessExecution.get_or_none(ProcessExecution.id == execution_id)
        self.finish(body, "done", "started",
                    execution.uid if execution is not None else body.get("execution_uid"))

    def finish(self, body: dict[str, Any], status: str, detail: str,
               execution_uid: str | None = None) -> str:
        """Record the result and queue it for central, in one transaction."""
        with database.atomic():
            SyncCommand.create(uid=body["uid"], kind=body["kind"],
                               process_uid=body["process_uid"], status=status,
                               detail=detail[:2000])
            record = {"uid": body["uid"], "station_id": self.station_id, "kind": body["kind"],
                      "process_uid": body["process_uid"], "status": status, "detail": detail,
                      "execution_uid": execution_uid or body.get("execution_uid"),
                      "at": utcnow().isoformat()}
            Outbox.create(kind="command", uid=body["uid"], payload=encode("command", record))
        _LOG.info("sync: command %s (%s %s): %s", body["uid"], body["kind"],
                  body["process_uid"], status)
        return status
