"""Fleet-wide and per-process analytics, read from the rollups (central/rollups.py).

Nothing here scans all executions: totals, rates and averages come from the rollup tables
(a few thousand rows), failure reasons from the index (process_id, status, started_at) over
a bounded number of recent failures. The 30-day usage patterns (hour of day, trigger types:
~18,000 hourly rollup rows at a million executions) are cached for a minute per app.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from peewee import SQL, fn

from agent.core.models import Process, ProcessExecution, ProcessTemplate, utcnow
from agent.engine.store import COUNTED_STATUSES
from central.models import ExecutionRollupHourly, ExecutionRollupProcess
from central.rollups import fold
from central.views import iso

FAILED_STATUSES = ("failed", "timeout", "interrupted")
WINDOW_DAYS = 30
FAILURE_SAMPLE = 10_000  # failure reasons: over at most this many recent failures
USAGE_CACHE_SECONDS = 60.0  # the 30-day usage patterns change slowly: reread once a minute


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in query.tuples()]


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _status_sums(rows: list[tuple[str, int, int, int]]) -> dict[str, Any]:
    """Counts, success and error rates, average time from (status, n, time_sum, time_n)."""
    by_status = {status: int(n) for status, n, _t, _c in rows if n}
    counted = sum(n for s, n in by_status.items() if s in COUNTED_STATUSES)
    time_sum = sum(int(t) for s, _n, t, _c in rows if s in COUNTED_STATUSES)
    time_n = sum(int(c) for s, _n, _t, c in rows if s in COUNTED_STATUSES)
    return {
        "by_status": by_status,
        "total": sum(by_status.values()),
        "success_rate": _ratio(by_status.get("completed", 0), counted),
        "error_rate": _ratio(sum(by_status.get(s, 0) for s in FAILED_STATUSES), counted),
        "avg_execution_time": round(time_sum / time_n, 1) if time_n else None,
    }


def _process_rollup(process_id: int | None = None) -> list[tuple[str, int, int, int]]:
    r = ExecutionRollupProcess
    query = r.select(r.status, fn.SUM(r.executions), fn.SUM(r.time_ms_sum),
                     fn.SUM(r.time_count)).group_by(r.status)
    if process_id is not None:
        query = query.where(r.process_id == process_id)
    return _tuples(query)  # type: ignore[return-value]


class UsageCache:
    """The 30-day usage patterns, recomputed at most every ``seconds`` (one per app)."""

    def __init__(self, seconds: float = USAGE_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._value: tuple[float, dict[str, Any]] | None = None

    def get(self, now: dt.datetime) -> dict[str, Any]:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > self.seconds:
                self._value = (time.monotonic(), usage_patterns(now))
            return self._value[1]


def usage_patterns(now: dt.datetime) -> dict[str, Any]:
    """Executions by hour of day (UTC) and by trigger type over the last WINDOW_DAYS days."""
    h = ExecutionRollupHourly
    window = (h.hour >= now - dt.timedelta(days=WINDOW_DAYS)) & (h.executions > 0)
    hours = [0] * 24
    for hour, n in _tuples(h.select(h.hour, fn.SUM(h.executions)).where(window)
                           .group_by(h.hour)):
        hours[hour.hour] += int(n)
    triggers = {t or "unknown": int(n) for t, n in _tuples(
        h.select(h.trigger_type, fn.SUM(h.executions).alias("n")).where(window)
        .group_by(h.trigger_type).order_by(SQL("n").desc(), h.trigger_type))}
    return {
        "window_days": WINDOW_DAYS,
        "executions_by_hour": hours,
        "peak_execution_hours": [{"hour": hour, "executions": n} for hour, n in
                                 sorted(enumerate(hours), key=lambda x: (-x[1], x[0]))[:3]
                                 if n],
        "trigger_frequencies": triggers,
    }


def overview(now: dt.datetime | None = None, usage: UsageCache | None = None) \
        -> dict[str, Any]:
    """The fleet's figures; ``usage`` caches the 30-day usage patterns (None: computed)."""
    now = now or utcnow()
    fold()
    sums = _status_sums(_process_rollup())
    h = ExecutionRollupHourly
    day_ago = (now - dt.timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    last_day = {s: int(n) for s, n in _tuples(
        h.select(h.status, fn.SUM(h.executions)).where((h.hour >= day_ago) & (h.executions > 0))
        .group_by(h.status))}
    last_day_counted = sum(n for s, n in last_day.items() if s in COUNTED_STATUSES)
    templates = (ProcessTemplate.select().where(~ProcessTemplate.deleted)
                 .order_by(ProcessTemplate.usage_count.desc(), ProcessTemplate.id).limit(5))
    alive = Process.select().where(~Process.deleted)
    by_status = sums["by_status"]
    return {
        "total_processes": alive.count(),
        "total_executions": sums["total"],
        "success_rate": sums["success_rate"],
        "avg_execution_time": sums["avg_execution_time"],
        # System health
        "active_processes": alive.where(Process.is_active & ~Process.paused).count(),
        "paused_processes": alive.where(Process.paused).count(),
        "executions_queued": by_status.get("queued", 0),
        "executions_running": by_status.get("running", 0) + by_status.get("waiting", 0),
        "error_rate": sums["error_rate"],
        "executions_last_24h": sum(last_day.values()),
        "error_rate_last_24h": _ratio(sum(last_day.get(s, 0) for s in FAILED_STATUSES),
                                      last_day_counted),
        "executions_by_status": by_status,
        # Usage patterns (UTC hours; trigger types over the last WINDOW_DAYS days)
        "most_used_templates": [{"id": t.id, "name": t.name, "category": t.category,
                                 "usage_count": t.usage_count} for t in templates],
        **(usage.get(now) if usage is not None else usage_patterns(now)),
    }


def process_analytics(process: Process) -> dict[str, Any]:
    fold()
    sums = _status_sums(_process_rollup(process.id))
    e = ProcessExecution
    recent = (e.select(e.error_message)
              .where((e.process_id == process.id) & e.status.in_(FAILED_STATUSES))
              .order_by(e.started_at.desc()).limit(FAILURE_SAMPLE)).alias("recent")
    reasons = _tuples(e.select(recent.c.error_message, fn.COUNT(SQL("*")).alias("n"))
                      .from_(recent).group_by(recent.c.error_message)
                      .order_by(SQL("n").desc()).limit(10))
    return {
        "process_id": process.id,
        "execution_count": sums["total"],
        "success_rate": sums["success_rate"],
        "avg_execution_time": sums["avg_execution_time"],
        "error_rate": sums["error_rate"],
        "executions_by_status": sums["by_status"],
        "last_executed": iso(process.last_executed),
        "failure_reasons": [{"reason": reason or "no error message", "count": int(n)}
                            for reason, n in reasons],
    }
