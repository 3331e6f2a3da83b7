"""Station health for monitoring: the heartbeat body, and the ``mqtt`` module for others.

The heartbeat is JSON on a retained topic (docs/protocol.md, "Health") so that any MQTT tool
can read it: outbox depth, last sync, radio state and airtime, engine load, dead letters.
The agent's metrics endpoint (agent/metrics.py) reads the same figures through the functions
here (``engine_figures``, ``radio_state_of``, ``airtime_of``, ``sync_client_of``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from agent.core.models import utcnow
from agent.sync import outbox, protocol

if TYPE_CHECKING:
    from agent.sync.client import SyncClient

_LOG = logging.getLogger(__name__)


class MqttPublisher:
    """``services.modules["mqtt"]``: lets station modules publish (notifications)."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    @property
    def connected(self) -> bool:
        return self._client.connected

    @property
    def client(self) -> SyncClient:
        """The sync client itself (read-only use: health and metrics)."""
        return self._client

    def publish(self, topic: str, payload: bytes | str) -> bool:
        """Queue a QoS 1 publish; False when the broker is not connected (not kept)."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        if not self._client.connected:
            return False
        self._client.inbox.put(("publish", topic, data))
        return True


def heartbeat_body(client: SyncClient) -> dict[str, Any]:
    """What the station says about itself every ``mqtt.heartbeat_seconds`` (sync thread)."""
    radio_state = radio_state_of(client.services.modules.get("radio"))
    state = client.state
    return {
        "v": protocol.VERSION,
        "station": client.station_id,
        "state": "online",
        "at": utcnow().isoformat(),
        "uptime_s": round(time.monotonic() - client.started),
        "incarnation": state.incarnation,
        "outbox_depth": outbox.depth(state.acked),
        "acked_seq": state.acked,
        "last_sync": state.last_sync,
        "feed_watermark": state.feed,
        "central_online": client.central_online,
        "radio": radio_state,
        "airtime_used": airtime_of(radio_state),
        "engine": engine_figures(client.engine),
        "dead_letters": client.dead_letters,
        "sync": dict(client.counters),
    }


def engine_figures(engine: Any) -> dict[str, Any]:
    """The engine's load: queue depth, processes loaded, its counters (any thread)."""
    return {"queue_depth": engine.queue_depth(),
            "processes_loaded": len(engine.processes),
            "stats": dict(engine.stats)}


def sync_client_of(services: Any) -> SyncClient | None:
    """The station's running sync client, or None when sync is off (any thread)."""
    publisher = services.modules.get("mqtt")
    return publisher.client if isinstance(publisher, MqttPublisher) else None


def radio_state_of(radio: Any) -> dict[str, Any] | None:
    """The radio module's state dict, if it has one (``state`` attribute or method)."""
    state = getattr(radio, "state", None) if radio is not None else None
    if callable(state):
        try:
            state = state()
        except Exception:  # noqa: BLE001 - health must never fail because of the radio
            _LOG.exception("sync: the radio's state could not be read")
            return None
    return dict(state) if isinstance(state, dict) else None


def airtime_of(state: dict[str, Any] | None) -> Any:
    if not state:
        return None
    for key in ("airtime_used_ms", "airtime_used", "airtime_ms", "airtime"):
        if key in state:
            return state[key]
    return None
