"""Events: what happened, as the engine sees it.

Adapters (radio, MQTT, scheduler, API, module operations) turn what happened into an ``Event``
and hand it to the engine; they never touch the database themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # e.g. "message_received", "zone_entry", "manual", "time_schedule"
    data: dict[str, Any] = field(default_factory=dict)
    source: str = "system"  # radio, api, scheduler, cli, mesh-command, module:<name>, process
    time: float = field(default_factory=time.time)
    # Index keys (for example a zone name, a command word, a process uid); triggers that
    # declare keys only see events carrying one of them. Empty: the event has no key.
    keys: frozenset[str] = frozenset()
    # The processes whose actions caused this event, oldest first: the loop guard.
    chain: tuple[str, ...] = ()
    triggered_by: str = "system"  # a user id, a node id, or "system"

    def as_variables(self) -> dict[str, Any]:
        """The event as templates and conditions see it: ``event.<field>``."""
        return {
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "triggered_by": self.triggered_by,
            "chain": list(self.chain),
            **self.data,
        }

    def to_record(self) -> dict[str, Any]:
        """What is stored in ``process_executions.trigger_event``."""
        return {
            "type": self.type,
            "data": self.data,
            "source": self.source,
            "time": self.time,
            "keys": sorted(self.keys),
            "chain": list(self.chain),
            "triggered_by": self.triggered_by,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Event:
        return cls(
            type=str(record.get("type", "")),
            data=dict(record.get("data") or {}),
            source=str(record.get("source", "system")),
            time=float(record.get("time", 0.0)),
            keys=frozenset(record.get("keys") or ()),
            chain=tuple(record.get("chain") or ()),
            triggered_by=str(record.get("triggered_by", "system")),
        )
