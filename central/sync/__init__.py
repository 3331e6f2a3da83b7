"""Central's side of the MQTT sync: ingest, definition feed, commands, station health.

``start(ctx)`` is called by ``firefly-central serve`` (central.server.SERVICE_MODULES): when
``mqtt.url`` (FIREFLY_MQTT) names a broker it starts the leader sync worker in a thread,
hooks it to ``ctx.on_change`` and makes ``ctx.station_ids`` the station registry; it returns
the stop function, or None when the sync is off. More ingest workers run as separate
processes: ``python -m central.sync --worker-id central-2`` (same config and environment).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.core.models import database
from agent.sync.connection import parse_mqtt_url
from central.context import CentralContext

_LOG = logging.getLogger(__name__)

LEADER_ID = "central-1"


def start(ctx: CentralContext) -> Callable[[], None] | None:
    from central.sync.stations import known_station_ids
    from central.sync.worker import SyncWorker

    url = parse_mqtt_url(ctx.settings.mqtt.url)
    if url is None:
        return None

    def station_ids() -> list[str]:
        with database.connection_context():
            return known_station_ids()

    worker = SyncWorker(url, LEADER_ID, ctx.clock, leader=True, on_changed=ctx.changed,
                        shared=ctx.settings.mqtt.shared_subscriptions)
    def broker_health() -> str | None:
        return None if worker.connected else f"sync worker {LEADER_ID}: not connected to " \
                                             f"the broker at {url.host}:{url.port}"

    ctx.on_change.append(worker.notify)
    ctx.station_ids = station_ids
    ctx.health_checks["broker"] = broker_health
    worker.start()

    def stop() -> None:
        if worker.notify in ctx.on_change:
            ctx.on_change.remove(worker.notify)
        ctx.health_checks.pop("broker", None)
        worker.stop()

    return stop
