"""Bots: named sets of message rules (list, get, create, update, delete, try a text)."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.module_models import Bot
from agent.engine.events import Event
from agent.modules.bots import RULES_SCHEMA
from agent.modules.fleet import live
from central.api._common import Api, Query, Request
from central.api._fleet import (
    CENTRAL,
    FLEET_PROPERTIES,
    NAME,
    PAGE,
    FleetEdits,
    Modules,
    get_live,
    register_edits,
    register_schemas,
    view,
)
from central.api._schemas import NULLABLE_STR, obj
from central.context import CentralContext

BOT_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": {"type": ["string", "null"], "maxLength": 2000},
    "rules": RULES_SCHEMA,
    "is_active": {"type": "boolean"},
}
BOT = obj({**FLEET_PROPERTIES, "name": {"type": "string"}, "description": NULLABLE_STR,
           "rules": {"type": "array", "items": {"type": "object"}},
           "is_active": {"type": "boolean"}})
TRY = obj({"text": {"type": "string", "minLength": 1, "maxLength": 1000},
           "sender": {"type": "string", "maxLength": 20},
           "sender_name": {"type": "string", "maxLength": 100}},
          required=["text"], additionalProperties=False)
TRIED = obj({"matched": {"type": "boolean"}, "rule": NULLABLE_STR, "reply": NULLABLE_STR,
             "destination": NULLABLE_STR, "outcome": {"type": "string"}})


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="bots")
    register_schemas(api, "bot", BOT, BOT_FIELDS, ("name", "rules"))
    api.schema("BotTry", TRY)
    api.schema("BotTried", TRIED)

    @api.get("/api/bots", "modules:view", "List bots",
             query=[*PAGE, Query("active_only", bool, False, "only active bots")],
             response="BotList")
    def list_bots(req: Request) -> dict[str, Any]:
        q = req.query
        query = live(Bot)
        if q["active_only"]:
            query = query.where(Bot.is_active == True)  # noqa: E712
        page = query.order_by(Bot.name, Bot.id).limit(q["limit"]).offset(q["offset"])
        return {"bots": [view(b) for b in page], "total": query.count()}

    @api.get("/api/bots/{id:int}", "modules:view", "A bot with its rules", response="Bot")
    def get_bot(req: Request, id: int) -> dict[str, Any]:
        return view(get_live(Bot, id, "bot"))

    register_edits(api, FleetEdits(
        "bot", Bot,
        create=lambda m, body, _actor: (m.bots.create(body, origin=CENTRAL), None),
        update=lambda m, bot, changes, _actor: (m.bots.update(bot, changes, origin=CENTRAL), None),
        delete=lambda m, bot: m.bots.delete(bot, origin=CENTRAL)),
        create_doc="Rules: keyword, command or regex -> a templated reply, with a cooldown "
                   "per sender. 409 when the name is taken.")

    @api.post("/api/bots/{id:int}/try", "modules:view", "What the bot would answer a text",
              body="BotTry", response="BotTried",
              description="A dry run: the rules are matched and the reply rendered; nothing is "
                          "sent or recorded, cooldowns are ignored.")
    def try_bot(req: Request, id: int) -> dict[str, Any]:
        bots = Modules(req.ctx).bots
        bot = get_live(Bot, id, "bot")
        body = req.body
        sender = body.get("sender") or None
        event = Event(type="message_received", data={
            "text": body["text"], "from_id": sender, "from_name": body.get("sender_name")
            or sender, "channel": 0}, source="api")
        answer = bots.respond(bot, text=body["text"], sender=sender, event=event,
                              cooldown=False, send=False, remember=False)
        if answer is None:
            return {"matched": False, "rule": None, "reply": None, "destination": None,
                    "outcome": "no rule matched"}
        return {"matched": True, "rule": answer.rule["name"], "reply": answer.reply,
                "destination": answer.destination, "outcome": answer.outcome}
