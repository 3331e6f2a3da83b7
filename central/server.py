"""``firefly-central serve``: the database, the central engine, optional services, waitress.

Services (the MQTT sync) join through SERVICE_MODULES: each module there has
``start(ctx) -> stop callable | None`` (None: not configured); started after the engine,
stopped before it.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from agent.core.ids import HybridClock
from agent.core.models import database
from agent.engine.context import Services
from agent.engine.engine import Engine, EngineSettings
from agent.modules.alerts import AlertService
from central.app import make_app
from central.auth import purge_expired_sessions, purge_login_attempts
from central.commands import expire_commands
from central.config import CentralSettings, parse_listen
from central.context import CentralContext
from central.db import open_central_database
from central.rollups import fold

_LOG = logging.getLogger(__name__)

SERVICE_MODULES = ("central.sync",)
HOUSEKEEPING_SECONDS = 300.0
FOLD_SECONDS = 2.0  # PostgreSQL: rollup deltas are folded this often (readers fold too)


def make_engine(clock: HybridClock) -> tuple[Engine, Any]:
    """The engine for processes assigned to station "central", with the alerts module;
    nothing it writes goes to an outbox (central has no upstream)."""
    services = Services(station_id="central", clock=clock)
    services.modules["alerts"] = AlertService("central", clock, outbox=False)
    scheduler = BackgroundScheduler(timezone="UTC")
    return Engine(services, EngineSettings(outbox=False), scheduler=scheduler), scheduler


def reload_on_change(engine: Engine) -> Callable[[str, str], None]:
    """An on_change hook: a changed process is reloaded by the central engine at once."""

    def hook(entity: str, uid: str) -> None:
        if entity == "process":
            engine.call(lambda: engine.reload([uid]))

    return hook


def housekeeping() -> None:
    """Expire commands, drop old sessions and login attempts."""
    with database.connection_context():
        expired = expire_commands()
        purge_expired_sessions()
        purge_login_attempts()
    if expired:
        _LOG.info("housekeeping: %d commands expired", expired)


def start_services(ctx: CentralContext) -> list[Callable[[], None]]:
    stops: list[Callable[[], None]] = []
    for name in SERVICE_MODULES:
        stop = importlib.import_module(name).start(ctx)
        if stop is not None:
            stops.append(stop)
    return stops


def serve(settings: CentralSettings, *, ready: Callable[[str, int], None] | None = None) -> None:
    import waitress

    db = open_central_database(settings.database.url,
                               run_migrations=settings.database.migrate_on_start)
    ctx = CentralContext(settings=settings, db=db)
    scheduler: Any = None
    if settings.engine.enabled:
        ctx.engine, scheduler = make_engine(ctx.clock)
        scheduler.start()
        ctx.engine.start(recover=True)
        ctx.on_change.append(reload_on_change(ctx.engine))
    app = make_app(settings, ctx)
    stops = start_services(ctx)
    stopping = threading.Event()

    def keep_house() -> None:
        while not stopping.wait(HOUSEKEEPING_SECONDS):
            try:
                housekeeping()
            except Exception:  # noqa: BLE001 - try again next time
                _LOG.exception("housekeeping failed")

    def fold_rollups() -> None:
        while not stopping.wait(FOLD_SECONDS):
            try:
                with database.connection_context():
                    fold()
            except Exception:  # noqa: BLE001 - try again next time
                _LOG.exception("folding the execution rollups failed")

    threading.Thread(target=keep_house, name="housekeeping", daemon=True).start()
    threading.Thread(target=fold_rollups, name="rollups", daemon=True).start()
    host, port = parse_listen(settings.server.listen)
    server = waitress.create_server(app, host=host, port=port, threads=settings.server.threads,
                                    ident="firefly-central")
    _LOG.info("central listening on http://%s:%s (database %s)", host, server.effective_port,
              settings.database.url.split("@")[-1])
    if ready is not None:
        ready(host, int(server.effective_port))
    gc.freeze()  # the start-up heap: not scanned by every full collection (3 % of the ingest)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        server.close()
        for stop in reversed(stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - stopping the rest matters more
                _LOG.exception("error while stopping a service")
        if ctx.engine is not None:
            ctx.engine.stop()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
