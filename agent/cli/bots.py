"""firefly-agent bot add|list|remove: the station's own copy of bots, without central."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail, print_json
from agent.config import AgentConfig
from agent.modules.admin import edit, open_local, table
from agent.modules.fleet import record_of


def register(sub: Any) -> None:
    bot = sub.add_parser("bot", help="bots (message rules with templated replies)") \
        .add_subparsers(dest="action", required=True)
    p = bot.add_parser("add", help="add a bot; FILE.json holds its rules (a list, or "
                                   '{"rules": [...]})')
    p.add_argument("name")
    p.add_argument("--rules", required=True, help="JSON file with the rules")
    p.add_argument("--description")
    p.add_argument("--inactive", action="store_true")
    p.set_defaults(func=cmd_add)
    p = bot.add_parser("list", help="list bots")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = bot.add_parser("remove", help="remove a bot (a tombstone that syncs)")
    p.add_argument("name", help="name or uid")
    p.set_defaults(func=cmd_remove)


def cmd_add(args: argparse.Namespace, config: AgentConfig) -> int:
    try:
        rules = json.loads(Path(args.rules).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fail(f"{args.rules}: no such file", EXIT_USAGE)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return fail(f"{args.rules}: not JSON: {exc}", EXIT_INVALID)
    if isinstance(rules, dict) and "rules" in rules:
        rules = rules["rules"]
    data: dict[str, Any] = {"name": args.name, "rules": rules, "is_active": not args.inactive}
    if args.description is not None:
        data["description"] = args.description
    bots = open_local(config.station.db, config.station.id).modules["bots"]
    bot, error, code = edit(lambda: bots.create(data))
    if bot is None:
        return fail(f"bot {args.name}: {error}", code)
    print(bot.uid)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, config: AgentConfig) -> int:
    bots = open_local(config.station.db, config.station.id).modules["bots"]
    rows = [record_of(b) for b in bots.list_bots()]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row in rows:
        row["rule_names"] = [r["name"] for r in row["rules"]]
    print(table(rows, ["name", "rule_names", "is_active", "uid"]))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, config: AgentConfig) -> int:
    bots = open_local(config.station.db, config.station.id).modules["bots"]

    def remove() -> str:
        bot = bots.find(args.name)
        bots.delete(bot)
        return str(bot.uid)

    uid, error, code = edit(remove)
    if uid is None:
        return fail(f"bot {args.name}: {error}", code)
    print(f"removed {uid}")
    return EXIT_OK
