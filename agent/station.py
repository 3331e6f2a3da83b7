"""A station assembled: database, modules, engine, scheduler, radio and sync adapters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from peewee import fn

from agent.config import AgentConfig
from agent.core.db import open_and_migrate
from agent.core.ids import HybridClock
from agent.core.models import CORE_MODELS
from agent.core.module_models import MODULE_MODELS
from agent.engine.context import Services
from agent.engine.engine import Engine
from agent.engine.retention import prune
from agent.metrics import start_metrics
from agent.modules import install_modules
from agent.radio import service as radio
from agent.sync.client import start_sync

_LOG = logging.getLogger(__name__)

RETENTION_INTERVAL_SECONDS = 3600.0

# Adapters that join a running station (radio, sync...): each gets the station and returns a
# stop function, or None when its configuration says it is off.
ADAPTERS: list[Callable[[Station], Callable[[], None] | None]] = []
ADAPTERS.append(start_sync)  # MQTT sync with central (agent/sync/client.py)
ADAPTERS.append(radio.start_radio)  # the Meshtastic radio (agent/radio/service.py)
ADAPTERS.append(start_metrics)  # the Prometheus metrics endpoint (agent/metrics.py)


def station_clock(station_id: str) -> HybridClock:
    """The station's hybrid clock, past every clock value already stored in its database.

    A station whose wall clock runs behind (no RTC on a Pi, no NTP in the field) would
    otherwise stamp an edit with a value below the version it edited, received from central,
    and lose the last-writer-wins merge to the older version."""
    clock = HybridClock(station_id)
    for model in (*CORE_MODELS, *MODULE_MODELS):
        column = model._meta.fields.get("hlc")
        if column is not None:
            latest = model.select(fn.MAX(column)).scalar()
            if latest:
                clock.observe(latest)
    return clock


def make_services(station_id: str) -> Services:
    """The station's modules, as processes reach them."""
    clock = station_clock(station_id)
    services = Services(station_id=station_id, clock=clock)
    install_modules(services)
    radio.register(services)  # nodes, outbound queue, mesh commands (agent/radio/service.py)
    return services


class Station:
    def __init__(self, config: AgentConfig, *, with_scheduler: bool = True) -> None:
        self.config = config
        self.db = open_and_migrate(config.station.db)
        self.services = make_services(config.station.id)
        self.scheduler: Any = (BackgroundScheduler(timezone=config.station.timezone)
                               if with_scheduler else None)
        self.engine = Engine(self.services, config.engine.engine_settings(), self.scheduler)
        self._stops: list[Callable[[], None]] = []

    def start(self, *, adapters: bool = True) -> None:
        if self.scheduler is not None:
            self.scheduler.start()
        self.engine.start()
        self.engine.call(self._retention)
        if adapters:
            for adapter in ADAPTERS:
                stop = adapter(self)
                if stop is not None:
                    self._stops.append(stop)

    def _retention(self) -> None:
        try:
            removed = prune(self.config.retention.days, self.config.retention.max_executions)
            if removed:
                _LOG.info("retention: pruned %d finished executions", removed)
        finally:
            self.engine.call_later(RETENTION_INTERVAL_SECONDS, self._retention)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - stopping the rest matters more
                _LOG.exception("error while stopping an adapter")
        self.engine.stop()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
