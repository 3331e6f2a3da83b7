"""The sender thread of the outbound queue: one packet per interval, off the engine thread.

It asks the engine thread for the next message (``OutQueue.take_next``, which spends its
airtime), sends it through the radio adapter (which may block: a disconnected library waits up
to 30 s), and reports the outcome back with ``engine.call``. It never touches the database.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from agent.radio.outqueue import Job, OutQueue

_LOG = logging.getLogger(__name__)


class RadioUnavailable(Exception):
    """The radio did not take a packet (disconnected, or it did not confirm it)."""


class RadioPort(Protocol):
    def wait_connected(self, timeout: float) -> bool: ...

    def send_text(self, job: Job) -> int:
        """Send one packet; its packet id once the radio took it. Raises RadioUnavailable."""
        ...


class Sender:
    """Takes the next message from the queue (on the engine thread) and sends it (here)."""

    def __init__(self, queue: OutQueue, engine: Any, radio: RadioPort) -> None:
        self.queue = queue
        self.engine = engine
        self.radio = radio
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radio-sender", daemon=True)
        self._last_send = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.queue.wake.set()
        self._thread.join(timeout)

    def _ask(self, fn_: Any) -> Any:
        try:
            return self.engine.call(fn_).result(timeout=60)
        except FutureTimeout:
            _LOG.warning("outbound queue: the engine did not answer within 60 s")
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._once()
            except Exception:  # noqa: BLE001 - the sender must outlive any one message
                _LOG.exception("outbound queue: sender error")
                self._stop.wait(1.0)

    def _once(self) -> None:
        if not self.radio.wait_connected(1.0):
            return
        pause = self._last_send + self.queue.settings.send_interval_seconds - time.monotonic()
        if pause > 0:
            self._stop.wait(pause)
            return
        self.queue.wake.clear()
        job = self._ask(self.queue.take_next)
        if job is None or isinstance(job, float | int):
            self.queue.wake.wait(float(job) if job is not None else 1.0)
            return
        if self._stop.is_set():
            self._ask(lambda: self.queue.mark_unsent(job.uid, "station stopping"))
            return
        try:
            packet_id = self.radio.send_text(job)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the text, retry later
            reason = str(exc) if isinstance(exc, RadioUnavailable) \
                else f"{type(exc).__name__}: {exc}"
            _LOG.info("outbound queue: %s not sent yet: %s", job.uid, reason)
            self._ask(lambda: self.queue.mark_unsent(job.uid, reason))
            self._last_send = time.monotonic()  # it may have reached the radio: keep the pace
            return
        self._last_send = time.monotonic()
        self._ask(lambda: self.queue.mark_sent(job.uid, packet_id))
