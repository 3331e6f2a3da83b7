"""Execution monitoring: list, detail with steps, and the searchable execution log."""

from __future__ import annotations

from typing import Any

from bottle import Bottle
from peewee import fn

from agent.core.models import (
    EXECUTION_STATUSES,
    Process,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
)
from central.api._common import Api, ApiError, Query, Request
from central.api._schemas import array_of, obj, ref
from central.context import CentralContext
from central.models import ExecutionRollupProcess
from central.rollups import fold
from central.views import execution_view, log_view, step_view


def find_execution(execution_id: int) -> ProcessExecution:
    execution = ProcessExecution.get_or_none(ProcessExecution.id == execution_id)
    if execution is None:
        raise ApiError(404, f"no execution {execution_id}")
    return execution


def rollup_total(process_id: int | None, status: str | None) -> int:
    """How many executions match, from the rollup kept by triggers (no scan)."""
    fold()
    query = ExecutionRollupProcess.select(fn.COALESCE(fn.SUM(ExecutionRollupProcess.executions),
                                                      0))
    if process_id is not None:
        query = query.where(ExecutionRollupProcess.process_id == process_id)
    if status is not None:
        query = query.where(ExecutionRollupProcess.status == status)
    return int(query.scalar() or 0)


def process_names(process_ids: set[int]) -> dict[int, str]:
    if not process_ids:
        return {}
    rows = Process.select(Process.id, Process.name).where(Process.id.in_(list(process_ids)))
    return {p.id: p.name for p in rows}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="executions")
    api.schema("ExecutionList", obj({"executions": array_of("Execution"),
                                     "total": {"type": "integer"}}))
    api.schema("ExecutionDetail", {"allOf": [ref("Execution"),
                                             obj({"steps": array_of("ExecutionStep")})]})
    api.schema("ExecutionLogs", obj({"logs": array_of("ExecutionLogLine")}))

    @api.get("/api/processes/executions", "processes:view", "List executions, newest first",
             query=[Query("process_id", int, None, "of this process", minimum=1),
                    Query("status", str, None, "with this status", enum=EXECUTION_STATUSES),
                    Query("station_id", str, None, "run on this station", max_length=64),
                    Query("since", str, None, "started at or after", format="date-time"),
                    Query("until", str, None, "started before", format="date-time"),
                    Query("limit", int, 50, "page size", minimum=1, maximum=500),
                    Query("offset", int, 0, "rows to skip", minimum=0, maximum=10_000_000)],
             response="ExecutionList")
    def list_executions(req: Request) -> dict[str, Any]:
        q = req.query
        query = ProcessExecution.select()
        if q["process_id"] is not None:
            query = query.where(ProcessExecution.process_id == q["process_id"])
        if q["status"] is not None:
            query = query.where(ProcessExecution.status == q["status"])
        if q["station_id"] is not None:
            query = query.where(ProcessExecution.station_id == q["station_id"])
        if q["since"] is not None:
            query = query.where(ProcessExecution.started_at >= q["since"])
        if q["until"] is not None:
            query = query.where(ProcessExecution.started_at < q["until"])
        page = list(query.order_by(ProcessExecution.started_at.desc(),
                                   ProcessExecution.id.desc())
                    .limit(q["limit"]).offset(q["offset"]))
        if q["station_id"] is None and q["since"] is None and q["until"] is None:
            total = rollup_total(q["process_id"], q["status"])
        else:
            total = query.count()
        names = process_names({e.process_id for e in page})
        return {"executions": [execution_view(e, names.get(e.process_id)) for e in page],
                "total": total}

    @api.get("/api/processes/executions/{id:int}", "processes:view",
             "An execution with its steps (one per attempt)", response="ExecutionDetail")
    def get_execution(req: Request, id: int) -> dict[str, Any]:
        execution = find_execution(id)
        steps = (ProcessExecutionStep.select()
                 .where(ProcessExecutionStep.execution == execution.id)
                 .order_by(ProcessExecutionStep.id))
        name = process_names({execution.process_id}).get(execution.process_id)
        return {**execution_view(execution, name), "steps": [step_view(s) for s in steps]}

    @api.get("/api/processes/executions/{id:int}/logs", "processes:view",
             "The execution's log lines in order, searchable",
             query=[Query("q", str, None, "lines containing this text (any case)",
                          max_length=200),
                    Query("since", str, None, "lines at or after", format="date-time"),
                    Query("until", str, None, "lines before", format="date-time"),
                    Query("limit", int, 1000, "at most this many lines", minimum=1,
                          maximum=10000)],
             response="ExecutionLogs")
    def get_logs(req: Request, id: int) -> dict[str, Any]:
        execution = find_execution(id)
        q = req.query
        query = ProcessExecutionLog.select().where(ProcessExecutionLog.execution == execution.id)
        if q["q"]:
            query = query.where(fn.LOWER(ProcessExecutionLog.message)
                                .contains(q["q"].lower()))
        if q["since"] is not None:
            query = query.where(ProcessExecutionLog.at >= q["since"])
        if q["until"] is not None:
            query = query.where(ProcessExecutionLog.at < q["until"])
        lines = query.order_by(ProcessExecutionLog.seq).limit(q["limit"])
        return {"logs": [log_view(g) for g in lines]}
