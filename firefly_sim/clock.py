"""Simulation time and the timer queue driven by the simulator's clock thread.

Scenario time ("sim seconds") runs ``speed`` times faster than real time.
Radio behaviour (time on air, ACK delays, the firmware's rate limits, duty
cycle) always uses real seconds: the agent on the other side of the TCP port
lives in real time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class SimClock:
    """Scenario time: seconds since start, scaled by ``speed``."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = time.monotonic()

    def sim_time(self) -> float:
        return (time.monotonic() - self._origin) * self.speed

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds corresponding to ``sim_seconds`` of scenario time."""
        return max(0.0, sim_seconds) / self.speed


class TimerQueue:
    """Callbacks due at a monotonic time; run by :meth:`run_due` (clock thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> None:
        due = time.monotonic() + max(0.0, delay_s)
        with self._lock:
            heapq.heappush(self._heap, (due, next(self._seq), callback))

    def next_due(self) -> float | None:
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every callback that is due; exceptions are logged, not raised."""
        ran = 0
        while True:
            now = time.monotonic()
            with self._lock:
                if not self._heap or self._heap[0][0] > now:
                    return ran
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                log.exception("timer callback failed")
            ran += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)


class ClockThread(threading.Thread):
    """Runs due timers and the scenario's ``tick`` every ``interval`` seconds."""

    def __init__(
        self,
        timers: TimerQueue,
        tick: Callable[[], None] | None = None,
        interval: float = 0.05,
    ) -> None:
        super().__init__(name="sim-clock", daemon=True)
        self._timers = timers
        self._tick = tick
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._timers.run_due()
            if self._tick is not None:
                try:
                    self._tick()
                except Exception:
                    log.exception("scenario tick failed")
            wait = self._interval
            due = self._timers.next_due()
            if due is not None:
                wait = min(wait, max(0.0, due - time.monotonic()))
            self._stop_event.wait(wait)

    def stop(self) -> None:
        self._stop_event.set()
