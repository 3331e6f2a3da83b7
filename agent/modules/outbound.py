"""Texts the modules send over the mesh: through the radio's paced outbound queue, if any.

Bots and notifications never talk to the radio directly: they queue a text here, which hands
it to ``services.modules["radio"].enqueue(...)`` (agent/radio/outqueue.py: paced, prioritised,
budgeted by airtime) inside the caller's transaction. Without a radio module (central, a
station configured with ``radio = none``) the text is not sent and the outcome says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

_LOG = logging.getLogger(__name__)

PRIORITIES = {"emergency": 0, "high": 2, "normal": 5, "low": 8}
NO_RADIO = "radio: not available, not sent"


@dataclass(frozen=True)
class Queued:
    queued: bool
    outcome: str  # "queued", or why not
    ref: Any = None  # what the radio returned (its message uid), for the record


def queue_text(modules: dict[str, Any], *, destination: str, text: str,
               priority: str = "normal", channel: int = 0, execution_uid: str | None = None,
               action_order: int | None = None, attempt: int | None = None,
               coalesce_key: str | None = None) -> Queued:
    """Queue ``text`` for ``destination`` (a node id, or ``^all``). Never raises."""
    radio = modules.get("radio")
    if radio is None:
        return Queued(False, NO_RADIO)
    try:
        ref = radio.enqueue(destination=destination, text=text, channel=channel,
                            priority=PRIORITIES.get(priority, PRIORITIES["normal"]),
                            execution_uid=execution_uid, action_order=action_order,
                            step_attempt=attempt, coalesce_key=coalesce_key)
    except Exception as exc:  # noqa: BLE001 - one refused text must not fail the others
        _LOG.warning("radio refused a text for %s: %s", destination, exc)
        return Queued(False, f"radio: {exc}")
    return _outcome(ref)


def _outcome(entries: Any) -> Queued:
    """The radio's answer (one entry per part: uid, group_uid, status, outcome...) in short."""
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return Queued(True, "queued")
    first = entries[0]
    ref = first.get("group_uid") or first.get("uid")
    statuses = {e.get("status") for e in entries}
    if "over_budget" in statuses:
        reason = next((e.get("outcome") for e in entries if e.get("outcome")), None)
        return Queued(False, "over airtime budget, not sent"
                      + (f" ({reason})" if reason else ""), ref)
    if statuses == {"coalesced"}:
        return Queued(True, "queued (the same text was already waiting)",
                      first.get("coalesced_with") or ref)
    return Queued(True, "queued", ref)
