"""Central's health and Prometheus metrics (served by central/api/health.py).

- ``CentralMetrics`` (one per application, in ``ctx.metrics``): the latency of every API
  request, by method, route template and status, measured where routes are served
  (central/api/_common.py); and, at scrape time, figures read from the database, so they are
  the same whichever process (web server, sync workers) wrote them:

  ========================================================  =======  ==========================
  metric                                                    type     from
  ========================================================  =======  ==========================
  ``firefly_central_executions{status}``                    gauge    the per-process rollup
  ``firefly_central_sync_records_ingested_total``           counter  sync_stations (rate():
                                                                     the ingest rate)
  ``firefly_central_sync_dead_letters_total``               counter  sync_stations
  ``firefly_central_stations{state}``                       gauge    online / offline
  ``firefly_central_station_online{station}``               gauge    its retained status
  ``firefly_central_station_outbox_depth{station}``         gauge    its last heartbeat
  ``firefly_central_station_last_seen_timestamp_seconds``   gauge    its last message
  ``firefly_central_station_records_ingested_total``        counter  per station
  ``firefly_central_commands{status}``                      gauge    central_commands
  ``firefly_central_http_request_duration_seconds``         histo.   every API request
  ========================================================  =======  ==========================

- Health checks (``ctx.health_checks``): name -> a function returning None when healthy or
  the problem. The database is always checked (its failure makes /healthz answer 503);
  adapters add their own (the sync: connected to the broker), which only degrade it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from peewee import fn
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.core.models import EXECUTION_STATUSES, database, unix_time
from central.models import CentralCommand, ExecutionRollupProcess
from central.rollups import fold
from central.sync.models import SyncStation
from central.sync.rows import tuples

_LOG = logging.getLogger(__name__)

HealthCheck = Callable[[], str | None]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CentralMetrics:
    """The registry of one central application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.request_seconds = Histogram(
            "firefly_central_http_request_duration_seconds",
            "API requests by method, route template and status code", ["method", "route", "status"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(DatabaseCollector())

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route, str(status)).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format (needs the database connection of the request)."""
        return bytes(generate_latest(self.registry))


class DatabaseCollector:
    """Figures read from central's database at scrape time."""

    def collect(self) -> Iterator[Metric]:
        for produce in (_executions, _sync_totals, _stations, _commands):
            try:
                yield from produce()
            except Exception:  # noqa: BLE001 - one failing figure must not lose the others
                _LOG.exception("metrics: %s could not be read", produce.__name__)


def _executions() -> Iterator[Metric]:
    fold()  # PostgreSQL: pending rollup deltas first, as every reader does
    r = ExecutionRollupProcess
    counts = dict.fromkeys(EXECUTION_STATUSES, 0)
    for status, executions in tuples(r.select(r.status, fn.SUM(r.executions))
                                     .group_by(r.status)):
        counts[status] = int(executions or 0)
    family = GaugeMetricFamily("firefly_central_executions",
                               "Executions stored at central, by status", labels=["status"])
    for status, count in sorted(counts.items()):
        family.add_metric([status], count)
    yield family


def _sync_totals() -> Iterator[Metric]:
    s = SyncStation
    ((ingested, dead),) = tuples(s.select(fn.COALESCE(fn.SUM(s.records_ingested), 0),
                                          fn.COALESCE(fn.SUM(s.dead_letters), 0)))
    yield CounterMetricFamily("firefly_central_sync_records_ingested",
                              "Outbox records ingested from all stations", value=int(ingested))
    yield CounterMetricFamily("firefly_central_sync_dead_letters",
                              "Messages and records from stations that were rejected",
                              value=int(dead))


def _stations() -> Iterator[Metric]:
    rows = tuples(SyncStation.select(SyncStation.station_id, SyncStation.online,
                                     SyncStation.outbox_depth, SyncStation.last_seen,
                                     SyncStation.records_ingested)
                  .order_by(SyncStation.station_id))
    online = sum(1 for row in rows if row[1])
    states = GaugeMetricFamily("firefly_central_stations", "Known field stations, by state",
                               labels=["state"])
    states.add_metric(["online"], online)
    states.add_metric(["offline"], len(rows) - online)
    yield states
    up = GaugeMetricFamily("firefly_central_station_online",
                           "1 while the station's retained status says online",
                           labels=["station"])
    depth = GaugeMetricFamily("firefly_central_station_outbox_depth",
                              "Records the station has not had acknowledged (last heartbeat)",
                              labels=["station"])
    seen = GaugeMetricFamily("firefly_central_station_last_seen_timestamp_seconds",
                             "When central last heard from the station (Unix time)",
                             labels=["station"])
    ingested = CounterMetricFamily("firefly_central_station_records_ingested",
                                   "Outbox records ingested from the station",
                                   labels=["station"])
    for station, is_online, outbox_depth, last_seen, records in rows:
        up.add_metric([station], 1 if is_online else 0)
        if outbox_depth is not None:
            depth.add_metric([station], int(outbox_depth))
        if last_seen is not None:
            seen.add_metric([station], unix_time(last_seen))
        ingested.add_metric([station], int(records))
    yield from (up, depth, seen, ingested)


def _commands() -> Iterator[Metric]:
    c = CentralCommand
    family = GaugeMetricFamily("firefly_central_commands",
                               "Commands for stations, by status (pending ones wait for their "
                               "station)", labels=["status"])
    for status, count in tuples(c.select(c.status, fn.COUNT(c.id)).group_by(c.status)):
        family.add_metric([str(status)], int(count))
    yield family


def check_database() -> str | None:
    """None when central's database answers a query (connecting if need be)."""
    try:
        database.connect(reuse_if_open=True)
        SyncStation.select(SyncStation.id).limit(1).execute()
    except Exception as exc:  # noqa: BLE001 - the answer is the problem, whatever it is
        return f"{type(exc).__name__}: {str(exc).strip()}"[:300]
    return None
