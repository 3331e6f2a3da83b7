"""The agent's own Prometheus metrics endpoint (``[metrics] listen``; off by default).

``start_metrics(station)`` (an entry of ``agent.station.ADAPTERS``) serves
``http://<listen>/metrics`` from a daemon thread with prometheus_client's WSGI server and a
private registry. Figures are read when Prometheus scrapes, never stored twice: the engine's
load, the radio's state and the sync client's counters come from agent/sync/health.py (as
the MQTT heartbeat does); executions by status and the outbox depth are read from the
database on the scrape thread (its own connection, reads only). A figure that cannot be read
is logged and left out of that scrape; a scrape never disturbs the station.

Every name starts with ``firefly_agent_`` (plus the standard ``process_*`` figures of the
agent's process on Linux). The list is in docs/operations.md, "Agent metrics".
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from peewee import fn
from prometheus_client import CollectorRegistry, ProcessCollector, start_wsgi_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from agent.core.models import EXECUTION_STATUSES, ProcessExecution, database
from agent.sync import outbox
from agent.sync.health import airtime_of, engine_figures, radio_state_of, sync_client_of
from agent.sync.protocol import software_version

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from agent.station import Station
    from agent.sync.client import SyncClient

_LOG = logging.getLogger(__name__)

PREFIX = "firefly_agent_"
STOP_TIMEOUT_SECONDS = 10.0

ENGINE_STAT_HELP = {
    "events": "Events handed to the engine",
    "executions": "Executions started",
    "dropped": "Executions not run (mode full, or a guard refused them)",
    "loop_refused": "Events refused because they would have looped (chain depth)",
    "condition_errors": "Conditions that could not be evaluated",
    "paused": "Processes paused automatically (rate limit)",
}
SYNC_COUNTER_HELP = {
    "batches": "Outbox batches sent to central",
    "records_sent": "Outbox records sent to central (re-sends included)",
    "acks": "Acknowledgements received from central",
    "resends": "Times everything unacknowledged was sent again",
    "changes": "Pages of changes received from central",
    "commands": "Commands received from central",
    "publish_failures": "Publishes the broker refused",
}


def metric_name(*parts: str) -> str:
    """``firefly_agent_`` + the parts, reduced to the characters Prometheus allows."""
    return PREFIX + re.sub(r"[^a-zA-Z0-9_]", "_", "_".join(parts))


@contextmanager
def reading() -> Iterator[None]:
    """A database connection for this thread while the block runs (closed after, if opened).

    Not peewee's ``connection_context()``: that closes the thread's connection on exit even
    when it was open before (a caller's own connection)."""
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        yield
    finally:
        if opened:
            database.close()


class StationCollector(Collector):
    """The station's figures, read at scrape time (the scrape's thread)."""

    def __init__(self, station: Station, started: float) -> None:
        self.station = station
        self.started = started
        # One entry per group of figures: a group that fails is left out, the rest served.
        self.parts: dict[str, Callable[[], Iterable[Metric]]] = {
            "info": self._info,
            "engine": self._engine,
            "executions": self._executions,
            "outbox": self._outbox,
            "radio": self._radio,
            "sync": self._sync,
        }

    def collect(self) -> Iterator[Metric]:
        for name, part in self.parts.items():
            try:
                families = list(part())
            except Exception:  # noqa: BLE001 - a scrape must never fail the station
                _LOG.exception("metrics: the %s figures could not be read", name)
                continue
            yield from families

    # -- the groups ---------------------------------------------------------------------------

    def _info(self) -> Iterator[Metric]:
        info = InfoMetricFamily(metric_name("build"), "The agent's version and station id")
        info.add_metric([], {"version": software_version() or "unknown",
                             "station": self.station.config.station.id})
        yield info
        yield gauge("uptime_seconds", "Seconds since the agent's adapters started",
                    time.monotonic() - self.started)

    def _engine(self) -> Iterator[Metric]:
        figures = engine_figures(self.station.engine)
        yield gauge("processes_loaded", "Active processes loaded by the engine",
                    figures["processes_loaded"])
        yield gauge("engine_queue_depth", "Items waiting in the engine's inbox",
                    figures["queue_depth"])
        for key, value in sorted(figures["stats"].items()):
            yield counter(f"engine_{key}", ENGINE_STAT_HELP.get(key, f"Engine counter {key}"),
                          value)

    def _executions(self) -> Iterator[Metric]:
        with reading():
            query = (ProcessExecution.select(ProcessExecution.status, fn.COUNT(ProcessExecution.id))
                     .group_by(ProcessExecution.status))
            rows: list[tuple[str, int]] = list(query.tuples())  # type: ignore[arg-type]
        counts = dict(rows)
        family = GaugeMetricFamily(metric_name("executions"),
                                   "Executions stored on the station, by status",
                                   labels=["status"])
        for status in dict.fromkeys((*EXECUTION_STATUSES, *sorted(counts))):
            family.add_metric([status], counts.get(status, 0))
        yield family

    def _outbox(self) -> Iterator[Metric]:
        client = sync_client_of(self.station.services)
        with reading():
            acked = (client.state.acked if client is not None
                     else int(outbox.get_value(outbox.KEY_ACKED, 0)))
            depth = outbox.depth(acked)
        yield gauge("outbox_depth", "Outbox records not yet acknowledged by central", depth)

    def _radio(self) -> Iterator[Metric]:
        state = radio_state_of(self.station.services.modules.get("radio"))
        if not state or state.get("url") == "none":  # radio.url = "none": no radio figures
            return
        if "connected" in state:
            yield gauge("radio_connected", "1 when the radio is connected, else 0",
                        1 if state["connected"] else 0)
        airtime = airtime_of(state)
        if airtime is not None:
            yield gauge("radio_airtime_used_seconds",
                        "Airtime used in the rolling hour of the duty-cycle budget",
                        float(airtime) / 1000.0)
        if state.get("airtime_budget_ms") is not None:
            yield gauge("radio_airtime_budget_seconds",
                        "Airtime allowed per rolling hour (the duty-cycle budget)",
                        float(state["airtime_budget_ms"]) / 1000.0)

    def _sync(self) -> Iterator[Metric]:
        client = sync_client_of(self.station.services)
        if client is None:
            return
        yield gauge("mqtt_connected", "1 when the sync client is connected to the broker",
                    1 if client.connected else 0)
        yield gauge("central_online", "1 when a central ingest worker says it is online",
                    1 if client.central_online else 0)
        age = last_sync_age(client)
        if age is not None:
            yield gauge("seconds_since_last_sync",
                        "Seconds since central last acknowledged the station's records", age)
        yield gauge("dead_letters", "Messages from central refused and kept as dead letters",
                    client.dead_letters)
        for key, value in sorted(client.counters.items()):
            yield counter(f"sync_{key}", SYNC_COUNTER_HELP.get(key, f"Sync counter {key}"),
                          value)


def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric_name(name), help_text, value=value)


def counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(metric_name(name), help_text, value=value)


def last_sync_age(client: SyncClient) -> float | None:
    """Seconds since ``state.last_sync`` (ISO 8601, naive means UTC); None if never."""
    last = client.state.last_sync
    if not last:
        return None
    at = dt.datetime.fromisoformat(str(last))
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return max(0.0, (dt.datetime.now(dt.UTC) - at).total_seconds())


def make_registry(station: Station, started: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(station, started))
    ProcessCollector(registry=registry)  # process_* (CPU, memory, open files), Linux only
    return registry


def start_metrics(station: Station) -> Callable[[], None] | None:
    """The station adapter (agent.station.ADAPTERS): None when ``metrics.listen`` is empty.

    A port that cannot be bound is logged as an error and the station runs without the
    endpoint: monitoring must not keep the station's processes from running."""
    address = station.config.metrics.address()
    if address is None:
        return None
    host, port = address
    registry = make_registry(station, time.monotonic())
    try:
        server, thread = start_wsgi_server(port, addr=host, registry=registry)
    except OSError as exc:
        _LOG.error("metrics: cannot listen on %s (%s); running without the metrics endpoint",
                   station.config.metrics.listen, exc)
        return None
    thread.name = "metrics"
    _LOG.info("metrics: serving http://%s/metrics", station.config.metrics.listen)

    def stop() -> None:
        server.shutdown()  # ends serve_forever; scrapes in flight run on daemon threads
        server.server_close()  # releases the port
        thread.join(STOP_TIMEOUT_SECONDS)

    return stop
