"""Rolling-hour airtime accounting (pure): what the station transmitted in the last hour.

The duty-cycle rule of a LoRa region (EU_868: 10 %) limits a transmitter's time on air over
any rolling hour. The outbound queue spends from an ``AirtimeBudget`` before each packet and
refunds what the radio refused (a NAK for a packet that never went on air), so the station
never exceeds the limit, whatever the processes ask for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 3600.0


@dataclass
class Spend:
    at: float  # Unix time
    ms: float
    ref: str  # the outbound message uid


class AirtimeBudget:
    """Transmit milliseconds spent per rolling ``window`` seconds, against ``limit_ms``."""

    def __init__(self, limit_ms: float, window: float = WINDOW_SECONDS) -> None:
        if limit_ms < 0:
            raise ValueError("limit_ms must be >= 0")
        self.limit_ms = limit_ms
        self.window = window
        self._spends: deque[Spend] = deque()
        self._used = 0.0

    def _expire(self, now: float) -> None:
        cutoff = now - self.window
        while self._spends and self._spends[0].at <= cutoff:
            self._used -= self._spends.popleft().ms
        if not self._spends:
            self._used = 0.0  # no float drift once empty

    def used_ms(self, now: float) -> float:
        self._expire(now)
        return max(0.0, self._used)

    def fits(self, ms: float, now: float) -> bool:
        return self.used_ms(now) + ms <= self.limit_ms + 1e-9

    def spend(self, ms: float, now: float, ref: str = "") -> None:
        """Record a transmission (kept in time order even if ``now`` goes back a little)."""
        self._expire(now)
        spend = Spend(now, ms, ref)
        if self._spends and now < self._spends[-1].at:
            items = sorted([*self._spends, spend], key=lambda s: s.at)
            self._spends = deque(items)
        else:
            self._spends.append(spend)
        self._used += ms

    def refund(self, ref: str) -> float:
        """Take back the spend recorded for ``ref`` (it never went on air); its ms, or 0."""
        for spend in self._spends:
            if spend.ref == ref:
                self._spends.remove(spend)
                self._used -= spend.ms
                return spend.ms
        return 0.0

    def seconds_until_fits(self, ms: float, now: float) -> float | None:
        """How long until ``ms`` more fits (0 if it fits now); None if it never can."""
        if ms > self.limit_ms:
            return None
        self._expire(now)
        excess = self._used + ms - self.limit_ms
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for spend in self._spends:
            freed += spend.ms
            if freed >= excess - 1e-9:
                return max(0.0, spend.at + self.window - now)
        return None  # pragma: no cover - unreachable while ms <= limit
