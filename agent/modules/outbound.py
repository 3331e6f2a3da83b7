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
    return Queued(True, "queued", _plain(ref))


def _plain(ref: Any) -> Any:
    """What the radio returned, reduced to something a JSON result can hold."""
    if ref is None or isinstance(ref, str | int | float | bool):
        return ref
    if isinstance(ref, list | tuple):
        return [_plain(r) for r in ref]
    if isinstance(ref, dict):
        return {str(k): _plain(v) for k, v in ref.items()}
    for attribute in ("group_uid", "uid"):
        value = getattr(ref, attribute, None)
        if isinstance(value, str):
            return value
    return str(ref)
