"""Flood protection: a process that fires too often is paused before it can flood the mesh."""

from __future__ import annotations

import time
from collections import deque


class RateGuard:
    """At most ``limit`` starts per process in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._starts: dict[str, deque[float]] = {}

    def allow(self, process_uid: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        starts = self._starts.setdefault(process_uid, deque())
        while starts and now - starts[0] > self.window:
            starts.popleft()
        if len(starts) >= self.limit:
            return False
        starts.append(now)
        return True

    def forget(self, process_uid: str) -> None:
        self._starts.pop(process_uid, None)
