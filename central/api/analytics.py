"""Analytics: the fleet overview and one process's figures (read from rollups)."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from central.analytics import UsageCache, overview, process_analytics
from central.api._common import Api, Request
from central.api._schemas import obj
from central.api.processes import find_process
from central.context import CentralContext

RATE = {"type": "number", "minimum": 0, "maximum": 1}
AVG = {"type": ["number", "null"], "description": "milliseconds"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="analytics")
    usage = UsageCache()
    api.schema("AnalyticsOverview", obj({
        "total_processes": {"type": "integer"},
        "total_executions": {"type": "integer"},
        "success_rate": RATE,
        "avg_execution_time": AVG,
        "active_processes": {"type": "integer"},
        "paused_processes": {"type": "integer"},
        "executions_queued": {"type": "integer"},
        "executions_running": {"type": "integer"},
        "error_rate": RATE,
        "executions_last_24h": {"type": "integer"},
        "error_rate_last_24h": RATE,
        "executions_by_status": COUNTS,
        "window_days": {"type": "integer"},
        "most_used_templates": {"type": "array", "items": obj({
            "id": {"type": "integer"}, "name": {"type": "string"},
            "category": {"type": ["string", "null"]}, "usage_count": {"type": "integer"}})},
        "executions_by_hour": {"type": "array", "items": {"type": "integer"},
                               "minItems": 24, "maxItems": 24},
        "peak_execution_hours": {"type": "array", "items": obj({
            "hour": {"type": "integer"}, "executions": {"type": "integer"}})},
        "trigger_frequencies": COUNTS,
    }))
    api.schema("ProcessAnalytics", obj({
        "process_id": {"type": "integer"},
        "execution_count": {"type": "integer"},
        "success_rate": RATE,
        "avg_execution_time": AVG,
        "error_rate": RATE,
        "executions_by_status": COUNTS,
        "last_executed": {"type": ["string", "null"], "format": "date-time"},
        "failure_reasons": {"type": "array", "items": obj({
            "reason": {"type": "string"}, "count": {"type": "integer"}})},
    }))

    @api.get("/api/processes/analytics/overview", "processes:view",
             "Fleet-wide process analytics: performance, system health, usage",
             response="AnalyticsOverview")
    def get_overview(req: Request) -> dict[str, Any]:
        return overview(usage=usage)

    @api.get("/api/processes/{id:int}/analytics", "processes:view",
             "One process's execution count, success rate, average time, failure reasons",
             response="ProcessAnalytics")
    def get_process_analytics(req: Request, id: int) -> dict[str, Any]:
        return process_analytics(find_process(id))
