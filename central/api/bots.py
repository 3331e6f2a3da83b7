"""Bots: named sets of message rules (list, get, create, update, delete, try a text)."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.models import database
from agent.core.module_models import Bot
from agent.engine.events import Event
from agent.modules.bots import RULES_SCHEMA
from agent.modules.fleet import InvalidRecord, live
from central.api._common import Api, Query, Request
from central.api._fleet import (
    FLEET_PROPERTIES,
    HLC_FIELD,
    NAME,
    PAGE,
    Modules,
    check_hlc,
    get_live,
    invalid,
    view,
)
from central.api._schemas import NULLABLE_STR, array_of, obj
from central.audit import audit
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
    api.schema("Bot", BOT)
    api.schema("BotList", obj({"bots": array_of("Bot"), "total": {"type": "integer"}}))
    api.schema("BotCreate", {"type": "object", "required": ["name", "rules"],
                             "properties": BOT_FIELDS, "additionalProperties": False})
    api.schema("BotUpdate", {"type": "object", "properties": {**BOT_FIELDS, "hlc": HLC_FIELD},
                             "additionalProperties": False})
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

    @api.post("/api/bots", "modules:edit", "Create a bot", body="BotCreate", response="Bot",
              status=201, errors=(409,),
              description="Rules: keyword, command or regex -> a templated reply, with a "
                          "cooldown per sender. 409 when the name is taken.")
    def create_bot(req: Request) -> dict[str, Any]:
        bots = Modules(req.ctx).bots
        with database.atomic():
            try:
                bot = bots.create(req.body, origin="central")
            except InvalidRecord as exc:
                raise invalid(exc, "bot") from None
            audit(req.actor, "create", "bot", bot.uid, None, view(bot))
        req.ctx.changed("bot", bot.uid)
        return view(bot)

    @api.put("/api/bots/{id:int}", "modules:edit", "Update a bot (the fields given)",
             body="BotUpdate", response="Bot", errors=(409,))
    def update_bot(req: Request, id: int) -> dict[str, Any]:
        bots = Modules(req.ctx).bots
        with database.atomic():
            bot = get_live(Bot, id, "bot")
            changes = check_hlc(bot, req.body, "bot")
            before = view(bot)
            try:
                bots.update(bot, changes, origin="central")
            except InvalidRecord as exc:
                raise invalid(exc, "bot") from None
            audit(req.actor, "update", "bot", bot.uid, before, view(bot))
        req.ctx.changed("bot", bot.uid)
        return view(bot)

    @api.delete("/api/bots/{id:int}", "modules:edit", "Delete a bot (a tombstone that syncs)",
                response="Message")
    def delete_bot(req: Request, id: int) -> dict[str, Any]:
        bots = Modules(req.ctx).bots
        with database.atomic():
            bot = get_live(Bot, id, "bot")
            before = view(bot)
            bots.delete(bot, origin="central")
            audit(req.actor, "delete", "bot", bot.uid, before, None)
        req.ctx.changed("bot", bot.uid)
        return {"message": "deleted"}

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
