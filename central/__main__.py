"""``firefly-central``: serve, migrate, admin create, token create.

Exit codes: 0 success; 2 bad usage or configuration; 3 invalid input; 4 not found;
5 already exists.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import logging
import signal
import sys
from typing import Any

from agent.settings import ConfigError
from central.config import CentralSettings, load_settings

EXIT_OK, EXIT_USAGE, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_EXISTS = 0, 2, 3, 4, 5

# Modules adding sub-commands: each has ``register(sub)`` (sub from add_subparsers) and sets
# ``func(args, settings) -> exit code`` on its parsers.
COMMAND_MODULES = ("central.doctor",)


def fail(message: str, code: int) -> int:
    print(f"firefly-central: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    from central.auth import ROLES

    parser = argparse.ArgumentParser(prog="firefly-central",
                                     description="Firefly Processes central service")
    parser.add_argument("--config", help="TOML config file (FIREFLY_* variables override it)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the HTTP API (waitress) and the central engine")
    p.add_argument("--listen", help="host:port (overrides server.listen)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(func=cmd_migrate)
    admin = sub.add_parser("admin", help="admin users").add_subparsers(dest="action",
                                                                       required=True)
    p = admin.add_parser("create", help="create an admin user (password on standard input)")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, default="admin")
    p.set_defaults(func=cmd_admin_create)
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action",
                                                                      required=True)
    p = token.add_parser("create", help="print a new bearer token acting as user NAME")
    p.add_argument("name", help="the admin user the token acts for")
    p.add_argument("--label", default="", help="what the token is for")
    p.set_defaults(func=cmd_token_create)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _open(settings: CentralSettings) -> Any:
    from central.db import open_central_database

    return open_central_database(settings.database.url)


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("password: the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_serve(args: argparse.Namespace, settings: CentralSettings) -> int:
    from dataclasses import replace

    from central.config import parse_listen
    from central.server import serve

    if args.listen:
        parse_listen(args.listen)
        settings = replace(settings, server=replace(settings.server, listen=args.listen))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    serve(settings)
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, settings: CentralSettings) -> int:
    from central.db import migrate_central, open_url

    db = open_url(settings.database.url)
    with db.connection_context():
        applied = migrate_central(db)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return EXIT_OK


def cmd_admin_create(args: argparse.Namespace, settings: CentralSettings) -> int:
    from agent.core.models import AdminUser, database
    from central.audit import audit
    from central.auth import create_user
    from central.views import user_view

    db = _open(settings)
    try:
        password = read_password()
    except ValueError as exc:
        return fail(str(exc), EXIT_INVALID)
    with db.connection_context(), database.atomic():
        if AdminUser.select().where(AdminUser.username == args.name).exists():
            return fail(f"user {args.name!r} already exists", EXIT_EXISTS)
        try:
            user = create_user(args.name, password, args.role)
        except ValueError as exc:
            return fail(str(exc), EXIT_INVALID)
        audit("command-line", "create", "user", user.uid, None, user_view(user))
    print(f"created {args.role} {args.name}")
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace, settings: CentralSettings) -> int:
    from agent.core.models import AdminUser, database
    from central.audit import audit
    from central.auth import create_token

    db = _open(settings)
    with db.connection_context(), database.atomic():
        user = AdminUser.get_or_none(AdminUser.username == args.name)
        if user is None or not user.is_active:
            return fail(f"no active user {args.name!r} (create it with 'admin create')",
                        EXIT_NOT_FOUND)
        row, token = create_token(user, args.label or f"command line for {args.name}")
        audit("command-line", "create", "api_token", row.uid, None,
              {"name": row.name, "user": user.username})
    print(token)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return fail(f"config: {exc}", EXIT_USAGE)
    from agent.logs import setup_logging

    setup_logging(settings.server.log_level)
    logging.getLogger("peewee").setLevel(logging.WARNING)
    try:
        code: int = args.func(args, settings)
        return code
    except ConfigError as exc:
        return fail(f"config: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
