"""firefly-agent group add|list|remove: the station's own copy of groups, without central."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import EXIT_OK, fail, print_json
from agent.config import AgentConfig
from agent.core.module_models import NOTIFICATION_CHANNELS
from agent.modules.admin import edit, open_local, table
from agent.modules.fleet import record_of


def register(sub: Any) -> None:
    group = sub.add_parser("group", help="groups of users").add_subparsers(
        dest="action", required=True)
    p = group.add_parser("add", help="add a group")
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--channel", action="append", choices=NOTIFICATION_CHANNELS,
                   help="how notifications reach it (repeat; default mesh and feed)")
    p.add_argument("--mqtt-topic", help="topic for the mqtt channel")
    p.set_defaults(func=cmd_add)
    p = group.add_parser("list", help="list groups with their members")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = group.add_parser("remove", help="remove a group (a tombstone that syncs)")
    p.add_argument("name", help="name or uid")
    p.set_defaults(func=cmd_remove)


def cmd_add(args: argparse.Namespace, config: AgentConfig) -> int:
    data: dict[str, Any] = {"name": args.name}
    if args.description is not None:
        data["description"] = args.description
    if args.channel:
        data["channels"] = args.channel
    if args.mqtt_topic:
        data["mqtt_topic"] = args.mqtt_topic
    users = open_local(config.station.db, config.station.id).modules["users"]
    group, error, code = edit(lambda: users.create_group(data))
    if group is None:
        return fail(f"group {args.name}: {error}", code)
    print(group.uid)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    users = open_local(config.station.db, config.station.id).modules["users"]
    rows = [{**record_of(g), "members": [u.name for u in users.members(g)]}
            for g in users.list_groups()]
    if args.json:
        print_json(rows)
    else:
        print(table(rows, ["name", "members", "channels", "description", "uid"]))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, config: AgentConfig) -> int:
    users = open_local(config.station.db, config.station.id).modules["users"]

    def remove() -> str:
        group = users.find_group(args.name)
        users.delete_group(group)
        return str(group.uid)

    uid, error, code = edit(remove)
    if uid is None:
        return fail(f"group {args.name}: {error}", code)
    print(f"removed {uid}")
    return EXIT_OK
