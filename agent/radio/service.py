"""The radio module of a station: wiring of nodes, outbound queue, adapter and mesh commands.

- ``register(services)`` (from ``agent.station.make_services``) installs what runs on the
  engine thread: the node hooks, the mesh-command hook and ``services.modules["radio"]`` /
  ``["nodes"]``, so that actions can queue texts even before the radio is connected (texts
  wait in the persistent queue).
- ``start_radio(station)`` (an entry of ``agent.station.ADAPTERS``) applies the ``[radio]``
  settings, starts the offline sweep and, unless ``radio.url`` is ``none``, the adapter
  (connection supervisor) and the sender thread. It returns the function that stops them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.radio.commands import MeshCommands
from agent.radio.nodes import NodeStore
from agent.radio.outqueue import OutQueue, QueueSettings
from agent.radio.url import parse_radio_url
from agent.settings import ConfigError

if TYPE_CHECKING:
    from agent.engine.context import Services
    from agent.radio.adapter import RadioAdapter
    from agent.station import Station

_LOG = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0


class RadioUnconfigured(RuntimeError):
    pass


class RadioService:
    """``services.modules["radio"]``: queue texts, read the radio's state."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.nodes = NodeStore()
        self.queue = OutQueue()
        self.commands = MeshCommands(self)
        self.adapter: RadioAdapter | None = None
        self.available = True  # False when radio.url is "none"

    def enqueue(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Queue a text (engine thread, caller's transaction); see OutQueue.enqueue."""
        if not self.available:
            raise RadioUnconfigured("this station has no radio (radio.url is none)")
        return self.queue.enqueue(**kwargs)

    def status(self) -> dict[str, Any]:
        """For the agent's status and health (any thread)."""
        if self.adapter is not None:
            return self.adapter.status()
        queue = self.queue.status()
        return {"url": "none" if not self.available else None, "connected": False,
                "airtime_used_ms": queue["airtime_used_ms"],
                "airtime_budget_ms": queue["budget_ms"], "queue": queue}

    def state(self) -> dict[str, Any]:
        """The same as ``status()`` (the name the sync heartbeat looks for)."""
        return self.status()

    def configure(self, radio: Any, settings: QueueSettings) -> None:
        """Apply the ``[radio]`` config section (engine thread)."""
        self.queue.configure(settings)
        self.nodes.offline_after_seconds = float(radio.offline_after_seconds)
        self.commands.configure(radio.command_nodes)
        self.queue.load()


def register(services: Services) -> None:
    """Install the radio module's services and engine-thread hooks."""
    radio = RadioService(services)
    services.modules["radio"] = radio
    radio.nodes.register(services)
    services.observe("mesh_command", radio.commands.on_command)


def start_radio(station: Station) -> Callable[[], None] | None:
    """Start the radio adapter of ``station`` (see the module docstring)."""
    from agent.engine.engine import wait_for

    config = station.config.radio
    url = parse_radio_url(config.url)
    radio: RadioService = station.services.modules["radio"]
    engine = station.engine
    radio.queue.engine = engine
    try:
        settings = QueueSettings.from_radio(config)
    except ValueError as exc:
        raise ConfigError(f"radio: {exc}") from None
    radio.available = url is not None
    wait_for(engine.call(lambda: radio.configure(config, settings)), 60.0)
    if url is None:
        _LOG.info("radio: none configured")
        return None
    from agent.radio.adapter import RadioAdapter
    from agent.radio.sender import Sender

    radio.nodes.start_sweep(engine)
    _schedule_prune(engine, radio.queue)
    adapter = RadioAdapter(url, engine, radio.queue)
    sender = Sender(radio.queue, engine, adapter)
    radio.adapter = adapter
    adapter.start()
    sender.start()

    def stop() -> None:
        radio.nodes.stop_sweep()
        sender.stop()
        adapter.stop()

    return stop


def _schedule_prune(engine: Any, queue: OutQueue) -> None:
    def prune() -> None:
        try:
            removed = queue.prune()
            if removed:
                _LOG.info("radio: pruned %d settled outbound messages", removed)
        finally:
            engine.call_later(PRUNE_INTERVAL_SECONDS, prune)

    engine.call(lambda: engine.call_later(60.0, prune))  # timers belong to the engine thread
