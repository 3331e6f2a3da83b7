"""firefly-central doctor: database, broker, listen address, disk, clock, permissions.

The checks are the agent's (agent/doctor.py); this module picks them for central's settings.
``register(sub)`` adds the ``doctor`` sub-command to firefly-central (central/__main__.py
COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import errno
import json
import socket
from pathlib import Path
from typing import Any

from agent.core.db import CORE_MIGRATIONS
from agent.doctor import (
    FAIL,
    OK,
    WARN,
    Check,
    check_broker,
    check_clock,
    check_database,
    check_disk,
    check_writable,
    exit_code,
    guarded,
    render,
)
from central.config import CentralSettings, parse_listen
from central.db import CENTRAL_HISTORY_TABLE, CENTRAL_MIGRATIONS, open_url


def check_listen(listen: str) -> Check:
    """Can central listen on ``host:port``? In use is a warning: it may be central itself."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Check("listen", WARN, f"{listen}: in use (is central running already?)",
                             f"if it is not central: ss -ltnp 'sport = :{port}' names the "
                             "program")
            if exc.errno == errno.EACCES:
                return Check("listen", FAIL, f"{listen}: permission denied",
                             "ports below 1024 need root: listen on 8080 behind a reverse "
                             "proxy (nginx, caddy) that serves HTTPS")
            return Check("listen", FAIL, f"{listen}: cannot listen: {exc.strerror or exc}",
                         "server.listen: an address of this machine, e.g. 127.0.0.1:8080")
    return Check("listen", OK, f"{listen}: free")


def central_checks(settings: CentralSettings, *, timeout: float = 5.0) -> list[Check]:
    url = settings.database.url
    migrations = [(CORE_MIGRATIONS, "schema_migration"),
                  (CENTRAL_MIGRATIONS, CENTRAL_HISTORY_TABLE)]
    if settings.mqtt.url == "none":
        broker = Check("broker", WARN, "off (mqtt.url = none): no station can sync",
                       "set mqtt.url (or FIREFLY_MQTT) to the broker, e.g. "
                       "mqtt://central:PASSWORD@127.0.0.1:1883")
    else:
        broker = guarded("broker", check_broker, settings.mqtt.url, timeout=timeout,
                         client_id="central-doctor")
    checks = [
        guarded("database", check_database, url, migrations, timeout=timeout, opener=open_url),
        broker,
        guarded("listen", check_listen, settings.server.listen),
    ]
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///")).absolute()
        checks += [guarded("disk", check_disk, db.parent),
                   guarded("permissions", check_writable, db.parent,
                           [db, Path(f"{db}-wal"), Path(f"{db}-shm")])]
    checks.append(guarded("clock", check_clock))
    return checks


def register(sub: Any) -> None:
    """Add ``doctor`` to firefly-central's sub-commands (``sub`` from add_subparsers)."""
    p = sub.add_parser("doctor", help="check database, broker, listen address, disk, clock "
                                      "and permissions; exit 0 when nothing FAILs")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per network check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, settings: CentralSettings) -> int:
    checks = central_checks(settings, timeout=args.timeout)
    if args.json:
        print(json.dumps({"ok": exit_code(checks) == 0,
                          "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        print("firefly-central doctor")
        print(render(checks))
    return exit_code(checks)
