"""firefly-agent process import|export|list|validate|run|pause|resume."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.cli import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    print_json,
)
from agent.config import AgentConfig
from agent.core.db import open_and_migrate
from agent.core.models import Process
from agent.definitions import DefinitionError, validate_definition
from agent.processes import ProcessNotFound, definition_of, find_process, save_process


def register(sub: Any) -> None:
    process = sub.add_parser("process", help="process definitions").add_subparsers(
        dest="action", required=True)
    p = process.add_parser("import", help="store a definition (JSON file or -), print its id")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)
    p = process.add_parser("export", help="print a process as a definition")
    p.add_argument("id")
    p.set_defaults(func=cmd_export)
    p = process.add_parser("list", help="list processes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = process.add_parser("validate", help="check a definition file, store nothing")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
    p = process.add_parser("run", help="run a process now and wait; exit 0 if it completed")
    p.add_argument("id")
    p.add_argument("--data", default="{}", help="trigger_data as JSON")
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=cmd_run)


def _read(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _load_file(path: str) -> tuple[Any, int | None]:
    try:
        return _read(path), None
    except FileNotFoundError:
        return None, fail(f"{path}: no such file", EXIT_USAGE)
    except json.JSONDecodeError as exc:
        return None, fail(f"{path}: not JSON: {exc}", EXIT_INVALID)


def _print_errors(path: str, exc: DefinitionError) -> int:
    for where, reason in exc.errors:
        print(f"{path}: {where}: {reason}", file=sys.stderr)
    return EXIT_INVALID


def cmd_validate(args: argparse.Namespace, config: AgentConfig) -> int:
    data, error = _load_file(args.file)
    if error is not None:
        return error
    try:
        validate_definition(data)
    except DefinitionError as exc:
        return _print_errors(args.file, exc)
    print(f"{args.file}: valid")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, config: AgentConfig) -> int:
    data, error = _load_file(args.file)
    if error is not None:
        return error
    open_and_migrate(config.station.db)
    try:
        process = save_process(data, origin=config.station.id,
                               hlc=_clock(config).now())
    except DefinitionError as exc:
        return _print_errors(args.file, exc)
    print(process.id)
    return EXIT_OK


def _clock(config: AgentConfig) -> Any:
    from agent.station import station_clock

    return station_clock(config.station.id)


def cmd_export(args: argparse.Namespace, config: AgentConfig) -> int:
    open_and_migrate(config.station.db)
    try:
        print_json(definition_of(find_process(args.id)))
    except ProcessNotFound as exc:
        return fail(str(exc), EXIT_NOT_FOUND)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    open_and_migrate(config.station.db)
    rows = [
        {"id": p.id, "uid": p.uid, "name": p.name, "is_active": p.is_active,
         "paused": p.paused, "mode": p.mode, "version": p.version,
         "execution_count": p.execution_count, "success_rate": round(p.success_rate, 3),
         "last_executed": p.last_executed}
        for p in Process.select().where(~Process.deleted).order_by(Process.id)
    ]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for r in rows:
        state = "paused" if r["paused"] else ("active" if r["is_active"] else "inactive")
        print(f"{r['id']:>5}  {state:<8}  {r['execution_count']:>6} runs  {r['name']}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace, config: AgentConfig) -> int:
    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as exc:
        return fail(f"--data: not JSON: {exc}", EXIT_USAGE)
    if not isinstance(data, dict):
        return fail("--data: must be a JSON object", EXIT_USAGE)
    from agent.station import Station

    station = Station(config, with_scheduler=False)
    try:
        process = find_process(args.id)
    except ProcessNotFound as exc:
        return fail(str(exc), EXIT_NOT_FOUND)
    station.engine.start(recover=False)
    try:
        handle = station.engine.run_process(process.uid, data, triggered_by="cli", source="cli")
        execution_id = handle.created.result(timeout=args.timeout)
        status = handle.finished.result(timeout=args.timeout)
    finally:
        station.engine.stop()
    print(execution_id)
    if status != "completed":
        print(f"firefly-agent: execution {execution_id} {status}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
