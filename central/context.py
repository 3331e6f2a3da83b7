"""What every API module is handed: settings, the database, the central engine, hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peewee import Database

from agent.core.ids import HybridClock
from central.config import CentralSettings

if TYPE_CHECKING:
    from central.api._common import RouteSpec
    from central.metrics import CentralMetrics, HealthCheck

_LOG = logging.getLogger(__name__)

ChangeHook = Callable[[str, str], None]


@dataclass
class CentralContext:
    settings: CentralSettings
    db: Database | None = None
    # The Engine running processes assigned to station "central" (None in tests without it).
    engine: Any = None
    clock: HybridClock = field(default_factory=lambda: HybridClock("central"))
    # Called with (entity, uid) after every committed change of a fleet-owned record
    # (process, template, zone, user, group, bot...): the sync pushes definitions with it.
    on_change: list[ChangeHook] = field(default_factory=list)
    # The ids of the known field stations (the sync replaces it with its station registry);
    # a process assigned to "*" is handed to each of them when run manually.
    station_ids: Callable[[], list[str]] = list
    # Every route declared with central.api._common (filled by make_app): the OpenAPI
    # document and the permission test are generated from it.
    routes: list[RouteSpec] = field(default_factory=list)
    # Named JSON Schemas for request and response bodies (OpenAPI components/schemas).
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Request latencies and the figures of GET /metrics (central/metrics.py; set by make_app).
    metrics: CentralMetrics | None = None
    # GET /healthz: name -> None when healthy, else the problem (adapters add theirs).
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)

    def changed(self, entity: str, uid: str) -> None:
        """Tell the on_change hooks; call after the change is committed. Never raises."""
        for hook in list(self.on_change):
            try:
                hook(entity, uid)
            except Exception:  # noqa: BLE001 - a hook's bug must not fail the request
                _LOG.exception("on_change hook %r failed for %s %s", hook, entity, uid)
