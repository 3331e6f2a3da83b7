"""firefly-agent user add|list|remove: the station's own copy of users, without central."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import EXIT_OK, fail, print_json
from agent.config import AgentConfig
from agent.modules.admin import edit, open_local, table
from agent.modules.fleet import record_of


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="users (people with mesh nodes)").add_subparsers(
        dest="action", required=True)
    p = user.add_parser("add", help="add a user")
    p.add_argument("name")
    p.add_argument("--node", action="append", default=[], help="a node id !a1b2c3d4 (repeat)")
    p.add_argument("--group", action="append", default=[], help="a group name (repeat)")
    p.set_defaults(func=cmd_add)
    p = user.add_parser("list", help="list users")
    p.add_argument("--group", help="only members of this group")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = user.add_parser("remove", help="remove a user (a tombstone that syncs)")
    p.add_argument("name", help="name or uid")
    p.set_defaults(func=cmd_remove)


def cmd_add(args: argparse.Namespace, config: AgentConfig) -> int:
    users = open_local(config.station.db, config.station.id).modules["users"]
    data = {"name": args.name, "node_ids": args.node, "groups": args.group}
    created, error, code = edit(lambda: users.create_user(data, by="cli"))
    if created is None:
        return fail(f"user {args.name}: {error}", code)
    print(created[0].uid)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    users = open_local(config.station.db, config.station.id).modules["users"]
    found, error, code = edit(lambda: users.list_users(group=args.group))
    if found is None:
        return fail(str(error), code)
    rows = [{**record_of(u), "group_names": users.group_names(u)} for u in found]
    if args.json:
        print_json(rows)
    else:
        print(table(rows, ["name", "node_ids", "group_names", "is_active", "uid"]))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, config: AgentConfig) -> int:
    users = open_local(config.station.db, config.station.id).modules["users"]

    def remove() -> str:
        user = users.find_user(args.name)
        users.delete_user(user)
        return str(user.uid)

    uid, error, code = edit(remove)
    if uid is None:
        return fail(f"user {args.name}: {error}", code)
    print(f"removed {uid}")
    return EXIT_OK
