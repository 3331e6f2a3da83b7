"""The ``firefly-agent`` command line.

Each module in this package adds its sub-commands with ``register(subparsers)``; every command
function takes the parsed arguments and returns an exit code:

0 success; 1 the thing ran but failed (an execution that did not complete); 2 bad usage or
configuration; 3 a definition or record that does not validate; 4 not found.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

from agent.config import AgentConfig, load_config
from agent.settings import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_NOT_FOUND = 0, 1, 2, 3, 4

Command = Callable[[argparse.Namespace, AgentConfig], int]


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int) -> int:
    print(f"firefly-agent: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firefly-agent",
                                     description="Firefly Processes station agent")
    parser.add_argument("--config", help="TOML config file (FIREFLY_* variables override it)")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return fail(f"config: {exc}", EXIT_USAGE)
    from agent.logs import setup_logging

    setup_logging(config.station.log_level)
    command: Command = args.func
    try:
        return command(args, config)
    except ConfigError as exc:
        return fail(f"config: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return 130


logging.getLogger("peewee").setLevel(logging.WARNING)
