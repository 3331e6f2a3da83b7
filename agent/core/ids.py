"""Globally unique, time-ordered row ids (UUIDv7) and the hybrid logical clock.

Time-ordered keys keep SQLite's index pages local (see notes/mqtt-sync.md 6.2), and the
hybrid logical clock (HLC) orders edits made at different places for last-writer-wins merges.
An HLC value is a string that sorts in time order: ``"<ms:013d>-<counter:05d>-<node>"``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_uuid_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_uid() -> str:
    """A UUIDv7 as text: 48 bits of Unix milliseconds, then random bits; monotonic per process."""
    global _last_ms, _seq
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
        else:
            _seq = 0
        _last_ms = ms
        seq = _seq & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


class HybridClock:
    """A hybrid logical clock: physical milliseconds plus a counter, tagged by node.

    ``now()`` gives a value greater than every value this clock produced or observed.
    """

    def __init__(self, node: str) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def now(self) -> str:
        with self._lock:
            wall = time.time_ns() // 1_000_000
            if wall > self._ms:
                self._ms, self._counter = wall, 0
            else:
                self._counter += 1
            return format_hlc(self._ms, self._counter, self.node)

    def observe(self, value: str) -> None:
        """Advance past a clock value received from elsewhere."""
        ms, counter, _node = parse_hlc(value)
        with self._lock:
            if (ms, counter) > (self._ms, self._counter):
                self._ms, self._counter = ms, counter


def format_hlc(ms: int, counter: int, node: str) -> str:
    return f"{ms:013d}-{counter:05d}-{node}"


def parse_hlc(value: str) -> tuple[int, int, str]:
    ms, counter, node = value.split("-", 2)
    return int(ms), int(counter), node
