"""``GET /api/events/stream``: the admin page's live feed (Server-Sent Events).

Design: each stream polls the database itself, every POLL_SECONDS, and pushes what changed as
two event types, each carrying an array (one message per poll, however many rows changed):

- ``executions``: changed executions (execution_view without the trigger event) with the
  process's name and counters (``process``: execution_count, success_rate, ...);
- ``steps``: new step attempts (compact: no result).

An execution has changed when (all indexed range queries on central's database):

1. its ``updated_at`` moved past the stream's cursor: central's own engine writes it at every
   change (store.update_execution); a transaction that commits a little after a later one
   would slip behind a plain cursor, so every poll also re-reads the last LAG_SECONDS and sends
   what it has not sent yet (deduplicated by id and updated_at);
2. its ``id`` is above the last one seen: a record the sync's ingest inserted, whatever its
   ``updated_at`` (the ingest keeps the station's, which may be days old after an outage);
3. it got new log lines (``process_execution_logs.id`` above the last one seen): the ingest
   updating a station's execution appends its new log lines, and every change of state writes
   one ("step 2 (log) completed", "completed in 12 ms").

Why the database and not an in-process publish/subscribe: executions are written by central's
engine, by the sync's ingest and, when central scales out, by other processes; the database is
the one place that sees every change, whoever made it. The cost is a few indexed queries per
open page every half second.

An idle stream writes a comment line every KEEPALIVE_SECONDS: writing is how the server learns
that a browser went away (a closed tab, a reload), so its thread and slot are freed at once.

The event id holds the positions (``<cursor>|<step>|<execution>|<log>``): a browser that
reconnects sends it back as ``Last-Event-ID`` and the stream resumes where it was. A stream
ends after STREAM_SECONDS (the browser reconnects within ``retry`` ms and is authenticated
again), and at most ``server.threads // 2`` streams are open at once (each holds a waitress
thread): more get 503.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import bottle
from bottle import Bottle
from peewee import fn

from agent.core.models import (
    Process,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    database,
    utcnow,
)
from central.api._common import Api, ApiError, Request
from central.context import CentralContext
from central.views import execution_view

POLL_SECONDS = 0.5
LAG_SECONDS = 2.0
STREAM_SECONDS = 60.0
KEEPALIVE_SECONDS = 1.0  # an idle stream writes a comment: a closed tab frees its thread soon
BATCH = 2000
RETRY_MS = 1000
START_BACK_SECONDS = 5.0  # a new stream (no Last-Event-ID) starts this far in the past

PROCESS_FIELDS = ("execution_count", "success_rate", "avg_execution_time", "last_executed",
                  "success_count", "is_active", "paused")


def parse_last_event_id(text: str | None) -> Position | None:
    if not text:
        return None
    stamp, *ids = text.split("|")
    try:
        numbers = [int(x) for x in ids] + [0] * (3 - len(ids))
        return Position(dt.datetime.fromisoformat(stamp), *numbers[:3])
    except (ValueError, TypeError):
        return None


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), default=str))
    return "\n".join(lines) + "\n\n"


def execution_row(e: ProcessExecution, process: dict[str, Any] | None) -> dict[str, Any]:
    row = execution_view(e, process.get("name") if process else None)
    row.pop("trigger_event", None)
    if process is not None:
        row["process"] = {k: process[k] for k in PROCESS_FIELDS}
    return row


def step_row(s: ProcessExecutionStep) -> dict[str, Any]:
    return {"id": s.id, "execution_id": s.__data__.get("execution"),
            "action_order": s.action_order, "action_type": s.action_type, "status": s.status,
            "retry_count": s.retry_count, "execution_time_ms": s.execution_time_ms,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "completed_at": s.completed_at.isoformat() if s.completed_at else None}


@dataclass
class Position:
    """Where a stream is: the updated_at cursor and the last step, execution and log ids."""

    cursor: dt.datetime
    step: int = 0
    execution: int = 0
    log: int = 0

    def __str__(self) -> str:
        return f"{self.cursor.isoformat()}|{self.step}|{self.execution}|{self.log}"


class Feed:
    """One stream: its position, and what it sent near the cursor (for the lag re-read)."""

    def __init__(self, position: Position) -> None:
        self.at = position
        self.sent: dict[int, dt.datetime] = {}  # execution id -> updated_at sent (recent only)

    @property
    def event_id(self) -> str:
        return str(self.at)

    def poll(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Changed executions and new steps since the last poll (one short connection)."""
        e, at = ProcessExecution, self.at
        with database.connection_context():
            window = at.cursor - dt.timedelta(seconds=LAG_SECONDS)
            fresh = list(e.select().where(e.updated_at > at.cursor)
                         .order_by(e.updated_at, e.id).limit(BATCH))
            late = list(e.select().where((e.updated_at >= window) & (e.updated_at <= at.cursor))
                        .order_by(e.updated_at, e.id).limit(BATCH))
            inserted = list(e.select().where(e.id > at.execution).order_by(e.id).limit(BATCH))
            logs = list(ProcessExecutionLog.select(ProcessExecutionLog.id,
                                                   ProcessExecutionLog.execution)
                        .where(ProcessExecutionLog.id > at.log)
                        .order_by(ProcessExecutionLog.id).limit(BATCH))
            known = {x.id for x in fresh + late + inserted}
            logged = {g.__data__["execution"] for g in logs} - known
            touched = list(e.select().where(e.id.in_(sorted(logged)))) if logged else []
            by_id = {x.id: x for x in late if self.sent.get(x.id) != x.updated_at}
            by_id.update({x.id: x for x in fresh + inserted + touched})
            changed = sorted(by_id.values(), key=lambda x: (x.updated_at, x.id))
            processes = self._processes({x.process_id for x in changed})
            steps = list(ProcessExecutionStep.select()
                         .where(ProcessExecutionStep.id > at.step)
                         .order_by(ProcessExecutionStep.id).limit(BATCH))
        for x in changed:
            self.sent[x.id] = x.updated_at
        if fresh:
            at.cursor = max(at.cursor, fresh[-1].updated_at)
        if inserted:
            at.execution = inserted[-1].id
        if logs:
            at.log = logs[-1].id
        if steps:
            at.step = steps[-1].id
        horizon = at.cursor - dt.timedelta(seconds=LAG_SECONDS)
        self.sent = {k: v for k, v in self.sent.items() if v >= horizon}
        return ([execution_row(x, processes.get(x.process_id)) for x in changed],
                [step_row(s) for s in steps])

    @staticmethod
    def _processes(ids: set[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = Process.select(Process.id, Process.name, *[getattr(Process, f) for f in
                                                         PROCESS_FIELDS]) \
            .where(Process.id.in_(sorted(ids)))
        return {p.id: {"name": p.name, **{f: _plain(getattr(p, f)) for f in PROCESS_FIELDS}}
                for p in rows}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def open_feed(last_event_id: str | None) -> Feed:
    """Where a stream starts (inside the request: its database connection is open)."""
    resumed = parse_last_event_id(last_event_id)
    if resumed is not None:
        return Feed(resumed)

    def last(model: Any) -> int:
        return int(model.select(fn.MAX(model.id)).scalar() or 0)

    return Feed(Position(utcnow() - dt.timedelta(seconds=START_BACK_SECONDS),
                         step=last(ProcessExecutionStep), execution=last(ProcessExecution),
                         log=last(ProcessExecutionLog)))


def stream(feed: Feed, slots: threading.Semaphore, seconds: float = STREAM_SECONDS) \
        -> Iterator[str]:
    """The stream's text; releases its slot when it ends or the client goes away."""
    try:
        yield f"retry: {RETRY_MS}\n\n" + sse("hello", {"cursor": feed.event_id}, feed.event_id)
        end = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while time.monotonic() < end:
            executions, steps = feed.poll()
            chunks = []
            if executions:
                chunks.append(sse("executions", executions, feed.event_id))
            if steps:
                chunks.append(sse("steps", steps, feed.event_id))
            if chunks:
                quiet_since = time.monotonic()
                yield "".join(chunks)
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(POLL_SECONDS)
    finally:
        slots.release()


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="events")
    slots = threading.Semaphore(max(1, ctx.settings.server.threads // 2))

    @api.get("/api/events/stream", "processes:view",
             "Live feed of execution changes (Server-Sent Events)", raw=True, errors=(503,),
             description="text/event-stream with events `executions` and `steps` (arrays of "
                         "changed rows); resumes from `Last-Event-ID`.")
    def events(req: Request) -> Iterator[str]:
        if not slots.acquire(blocking=False):
            raise ApiError(503, "too many live connections: try again later",
                           headers={"Retry-After": "10"})
        try:
            feed = open_feed(bottle.request.get_header("Last-Event-ID"))
        except Exception:
            slots.release()
            raise
        bottle.response.content_type = "text/event-stream; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-cache")
        bottle.response.set_header("X-Accel-Buffering", "no")
        return stream(feed, slots)
