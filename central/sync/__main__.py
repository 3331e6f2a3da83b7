"""``python -m central.sync``: an extra ingest worker (no HTTP, not the feed leader).

Reads central's configuration (``--config`` and FIREFLY_DATABASE_URL, FIREFLY_MQTT) and joins
the shared subscriptions until SIGINT or SIGTERM. Give each worker its own ``--worker-id``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading

from agent.core.ids import HybridClock
from agent.settings import ConfigError
from agent.sync.connection import parse_mqtt_url
from central.config import load_settings
from central.db import open_central_database

_LOG = logging.getLogger("central.sync")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m central.sync",
                                     description="an extra Firefly central ingest worker")
    parser.add_argument("--config", help="central's TOML config file")
    parser.add_argument("--worker-id", default="central-2",
                        help="this worker's MQTT client id (unique per worker)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        url = parse_mqtt_url(settings.mqtt.url)
    except ConfigError as exc:
        print(f"central.sync: config: {exc}", file=sys.stderr)
        return 2
    if url is None:
        print("central.sync: mqtt.url (FIREFLY_MQTT) is not set", file=sys.stderr)
        return 2
    if not settings.mqtt.shared_subscriptions:
        print("central.sync: mqtt.shared_subscriptions is false: without shared subscriptions "
              "every worker would receive every message; run only firefly-central serve",
              file=sys.stderr)
        return 2
    from agent.logs import setup_logging
    from central.sync.worker import SyncWorker

    setup_logging(settings.server.log_level)
    open_central_database(settings.database.url,
                          run_migrations=settings.database.migrate_on_start)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = SyncWorker(url, args.worker_id, HybridClock(args.worker_id), leader=False)
    worker.start()
    gc.freeze()  # the start-up heap: not scanned by every full collection (3 % of the ingest)
    try:
        stop.wait()
    finally:
        worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
