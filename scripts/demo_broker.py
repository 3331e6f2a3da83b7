"""The demo's embedded fallback MQTT broker (amqtt): for the demo only, never for production.

scripts/demo starts it instead of Mosquitto when Mosquitto is not installed and cannot be
installed, or when FIREFLY_DEMO_BROKER=embedded. It speaks MQTT 3.1.1 only (no shared
subscriptions, no MQTT 5 sessions), listens on 127.0.0.1 only and lets anyone in without a
password; it keeps nothing on disk. Install it with ``pip install -e '.[demo-broker]'``.

    python scripts/demo_broker.py --port 1884

SIGTERM or SIGINT stops it (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import signal
import sys
from typing import Any

LOOPBACK = "127.0.0.1"
BANNER = "embedded demo broker (amqtt), loopback only, not for production"


def broker_config(port: int) -> dict[str, Any]:
    """One TCP listener on loopback, anonymous clients, and no other plugin."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def broker_class() -> type[Any]:
    from amqtt.broker import Broker  # type: ignore[import-untyped]

    class DemoBroker(Broker):  # type: ignore[misc]
        async def _publish_retained_messages_for_subscription(
                self, subscription: tuple[str, int], session: Any) -> None:
            # amqtt 0.12.1 calls this on every CONNECT for each filter that ANY client holds,
            # so a station would get the other stations' retained status: deliver retained
            # messages only for filters this session holds (MQTT-3.3.1-6).
            holders = self._subscriptions.get(subscription[0], [])
            if any(holder is session for holder, _qos in holders):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return DemoBroker


async def serve(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    broker = broker_class()(broker_config(port))
    await broker.start()
    logging.getLogger("demo_broker").warning("%s: listening on %s:%d", BANNER, LOOPBACK, port)
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=1884, help="TCP port on 127.0.0.1")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning or error")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)  # amqtt's state machine: noisy
    if importlib.util.find_spec("amqtt") is None:
        print("demo_broker: amqtt is not installed: pip install -e '.[demo-broker]'",
              file=sys.stderr)
        return 2
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
