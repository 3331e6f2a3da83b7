"""firefly-agent executions list|show."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import EXIT_NOT_FOUND, EXIT_OK, fail, print_json
from agent.config import AgentConfig
from agent.core.db import open_and_migrate
from agent.core.models import ProcessExecution
from agent.core.records import execution_record


def register(sub: Any) -> None:
    executions = sub.add_parser("executions", help="execution records").add_subparsers(
        dest="action", required=True)
    p = executions.add_parser("list", help="the latest executions")
    p.add_argument("--process", type=int, help="only this process id")
    p.add_argument("--status")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = executions.add_parser("show", help="one execution with its steps and log")
    p.add_argument("id")
    p.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    open_and_migrate(config.station.db)
    query = ProcessExecution.select().order_by(ProcessExecution.id.desc()).limit(args.limit)
    if args.process:
        query = query.where(ProcessExecution.process_id == args.process)
    if args.status:
        query = query.where(ProcessExecution.status == args.status)
    rows = [{"id": e.id, "uid": e.uid, "process_id": e.process_id, "status": e.status,
             "started_at": e.started_at, "execution_time_ms": e.execution_time_ms,
             "steps_completed": e.steps_completed, "total_steps": e.total_steps,
             "error_message": e.error_message} for e in query]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for r in rows:
        print(f"{r['id']:>6}  {r['status']:<11} process {r['process_id']:<5} "
              f"{r['steps_completed']}/{r['total_steps']} steps  {r['started_at']}"
              + (f"  {r['error_message']}" if r["error_message"] else ""))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, config: AgentConfig) -> int:
    open_and_migrate(config.station.db)
    ref = str(args.id)
    execution = ProcessExecution.get_or_none(ProcessExecution.uid == ref)
    if execution is None and ref.isdigit():
        execution = ProcessExecution.get_or_none(ProcessExecution.id == int(ref))
    if execution is None:
        return fail(f"no execution {ref!r}", EXIT_NOT_FOUND)
    record = execution_record(execution)
    record["id"] = execution.id
    record["process_id"] = execution.process_id
    print_json(record)
    return EXIT_OK
