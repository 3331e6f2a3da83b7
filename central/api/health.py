"""GET /healthz (for load balancers, systemd and compose) and GET /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

import bottle
from bottle import Bottle

from central.api._common import PUBLIC, Api, Request, dumps
from central.context import CentralContext
from central.metrics import check_database

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

HEALTH = {
    "type": "object", "required": ["status", "checks"],
    "properties": {
        "status": {"enum": ["ok", "degraded", "failing"]},
        "checks": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["ok"],
            "properties": {"ok": {"type": "boolean"}, "problem": {"type": "string"}}}},
    },
}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="health")
    api.schema("Health", HEALTH)

    @api.get("/healthz", PUBLIC, "Is central able to serve?", response="Health", raw=True,
             also=(503,), needs_database=False,
             description="200 ok or degraded (an adapter such as the sync is unwell: central "
                         "still serves), 503 failing (the database cannot be reached). No "
                         "authentication; says nothing beyond the checks' verdicts.")
    def healthz(req: Request) -> str:
        problems = {"database": check_database()}
        for name, check in sorted(req.ctx.health_checks.items()):
            try:
                problems[name] = check()
            except Exception as exc:  # noqa: BLE001 - a broken check is a failed check
                problems[name] = f"the check failed: {exc}"
        status = "failing" if problems["database"] else (
            "degraded" if any(problems.values()) else "ok")
        checks: dict[str, Any] = {name: {"ok": True} if problem is None
                                  else {"ok": False, "problem": problem}
                                  for name, problem in problems.items()}
        bottle.response.status = 503 if status == "failing" else 200
        bottle.response.content_type = "application/json"
        return dumps({"status": status, "checks": checks})

    @api.get("/metrics", "stations:view", "Prometheus metrics", raw=True,
             response={"type": "string"}, media_type="text/plain",
             description="The Prometheus text format: executions by status, ingest totals, "
                         "stations online and their outbox depths, commands, API latency "
                         "(docs/operations.md, Monitoring). Scrape with a bearer token of a "
                         "user who may view stations.")
    def metrics(req: Request) -> bytes:
        assert req.ctx.metrics is not None
        bottle.response.content_type = PROMETHEUS_TEXT
        return req.ctx.metrics.exposition()
