"""The sync thread pattern the station's client and central's workers share.

paho runs its own network thread; its callbacks only put events in an ``Inbox`` (they never
block it, never touch the database). One thread owns the state: ``serve`` takes the events
one by one, calls ``handle`` for each and ``tick`` after each (or every ``poll_seconds``),
until ``("stop",)``. Events:

    ("connected", reason, failed)      ("disconnected", reason)
    ("message", topic, payload, retain)  ("publish_failed", mid, reason)

and whatever else the owner puts in (its own commands, e.g. ``("changed", kind, uid)``).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from agent.core.models import database

Event = tuple[Any, ...]


class Inbox:
    """Events for the owning thread, from paho's callbacks and from other threads."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def attach(self, client: mqtt.Client) -> None:
        """Make ``client``'s callbacks post here (and nothing else)."""

        def connected(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self.put(("connected", str(reason), bool(getattr(reason, "is_failure", False))))

        def disconnected(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self.put(("disconnected", str(reason)))

        def message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
            self.put(("message", m.topic, bytes(m.payload), bool(m.retain)))

        def published(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
            if getattr(reason, "is_failure", False):
                self.put(("publish_failed", mid, str(reason)))

        client.on_connect = connected
        client.on_disconnect = disconnected
        client.on_message = message
        client.on_publish = published

    def serve(self, handle: Callable[[Event], None], tick: Callable[[], None], *,
              poll_seconds: float, on_error: Callable[[Exception, Event | None], None],
              goodbye: Callable[[], None]) -> None:
        """The owning thread's loop, with its own database connection; ``goodbye`` runs once
        ``("stop",)`` arrives. An error in ``handle`` or ``tick`` goes to ``on_error`` and the
        loop goes on: the sync must survive anything a broker or a peer sends."""
        database.connect(reuse_if_open=True)
        try:
            while True:
                try:
                    event: Event | None = self._queue.get(timeout=poll_seconds)
                except queue.Empty:
                    event = None
                if event is not None and event[0] == "stop":
                    break
                try:
                    if event is not None:
                        handle(event)
                    tick()
                except Exception as exc:  # noqa: BLE001 - see the docstring
                    on_error(exc, event)
            goodbye()
        finally:
            database.close()
