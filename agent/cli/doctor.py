"""firefly-agent doctor: is this station able to run? One verdict per check, and what to do."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli import EXIT_FAILED, EXIT_OK, print_json
from agent.config import AgentConfig
from agent.core.db import CORE_MIGRATIONS
from agent.doctor import (
    OK,
    Check,
    check_broker,
    check_clock,
    check_database,
    check_disk,
    check_radio,
    check_writable,
    exit_code,
    guarded,
    render,
)
from agent.runlock import holder


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check radio, broker, database, disk, clock and "
                                      "permissions; exit 0 when nothing FAILs")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per network check")
    p.add_argument("--probe-radio", action="store_true",
                   help="connect to a TCP radio even while the agent runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def agent_checks(config: AgentConfig, *, timeout: float = 5.0,
                 probe_radio: bool = False) -> list[Check]:
    db = Path(config.station.db.removeprefix("sqlite:///")).absolute()
    data_dir = db.parent
    running = holder(config.station.db)
    migrations = [(CORE_MIGRATIONS, "schema_migration")]
    if config.mqtt.url != "none":  # the sync adds its tables when it first starts
        from agent.sync.models import HISTORY_TABLE, MIGRATIONS

        migrations.append((MIGRATIONS, HISTORY_TABLE))
    return [
        Check("agent", OK, f"running (pid {running})" if running else "not running"),
        guarded("radio", check_radio, config.radio.url, timeout=timeout,
                probe=probe_radio or not running, in_use_by=running),
        guarded("broker", check_broker, config.mqtt.url, ca_file=config.mqtt.ca_file,
                timeout=timeout, client_id=f"{config.station.id}-doctor"),
        guarded("database", check_database, str(db), migrations, timeout=timeout),
        guarded("disk", check_disk, data_dir),
        guarded("clock", check_clock),
        guarded("permissions", check_writable, data_dir,
                [db, Path(f"{db}-wal"), Path(f"{db}-shm")]),
    ]


def cmd_doctor(args: argparse.Namespace, config: AgentConfig) -> int:
    checks = agent_checks(config, timeout=args.timeout, probe_radio=args.probe_radio)
    if args.json:
        print_json({"station": config.station.id, "ok": exit_code(checks) == 0,
                    "checks": [c.as_dict() for c in checks]})
    else:
        print(f"firefly-agent doctor: station {config.station.id}")
        print(render(checks))
    return EXIT_OK if exit_code(checks) == 0 else EXIT_FAILED
