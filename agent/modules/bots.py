"""Bots: named sets of message rules, like the auto-responders mesh operators run.

A rule matches a received text by keyword (a whole word, anywhere), command (the first word,
e.g. ``!weather``; the rest is ``match.args``) or regular expression, and answers with a
templated reply (the sandboxed templates of agent/engine/templating.py, over ``event``,
``match``, ``bot``, ``rule`` and ``station``). A rule answers one sender at most once per
``cooldown_seconds``. The first matching rule of each active bot answers; the reply goes to the
sender by direct message (``reply_to: sender``) or to the channel it came from.

The hook ``on_message`` reacts to ``message_received`` and emits ``bot_trigger_fired``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from agent.core.ids import HybridClock
from agent.core.models import utcnow
from agent.core.module_models import BOT_MATCH_KINDS, Bot, BotCooldown
from agent.engine import templating
from agent.engine.events import Event
from agent.modules import fleet
from agent.modules.fleet import InvalidRecord, NotFound
from agent.modules.outbound import PRIORITIES, queue_text

_LOG = logging.getLogger(__name__)

MAX_RULES = 100
MAX_TEXT = 1000  # of a received text looked at by a rule (mesh texts are at most 232 bytes)

RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "match", "pattern", "reply"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "match": {"enum": list(BOT_MATCH_KINDS)},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 500},
        "reply": {"type": "string", "minLength": 1, "maxLength": 1000},
        "cooldown_seconds": {"type": "integer", "minimum": 0, "maximum": 604_800,
                             "default": 60},
        "case_sensitive": {"type": "boolean", "default": False},
        "reply_to": {"enum": ["sender", "channel"], "default": "sender"},
        "priority": {"enum": list(PRIORITIES), "default": "normal"},
    },
    "additionalProperties": False,
}
RULES_SCHEMA: dict[str, Any] = {"type": "array", "items": RULE_SCHEMA, "maxItems": MAX_RULES}
_RULES_VALIDATOR = jsonschema.Draft202012Validator(RULES_SCHEMA)


def bot_key(name: str) -> str:
    """The index key of a bot name (bot_trigger_fired triggers are keyed by it)."""
    return name.strip().casefold()


def check_rules(rules: Any) -> list[dict[str, Any]]:
    """Validated rules (defaults filled); raises InvalidRecord naming the rule and field."""
    errors = sorted(_RULES_VALIDATOR.iter_errors(rules), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise InvalidRecord(f"rules{where}: {error.message[:200]}")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, rule in enumerate(rules):
        if rule["name"] in names:
            raise InvalidRecord(f"rules[{i}].name: {rule['name']!r} is used twice")
        names.add(rule["name"])
        if rule["match"] == "regex":
            try:
                re.compile(rule["pattern"])
            except re.error as exc:
                raise InvalidRecord(f"rules[{i}].pattern: invalid regular expression: {exc}") \
                    from None
        try:
            templating.check(rule["reply"])
        except templating.TemplateError as exc:
            raise InvalidRecord(f"rules[{i}].reply: {exc}") from None
        out.append({"cooldown_seconds": 60, "case_sensitive": False, "reply_to": "sender",
                    "priority": "normal", **rule})
    return out


def match_rule(rule: dict[str, Any], text: str) -> dict[str, Any] | None:
    """What the rule matched in ``text`` (``text``, ``groups``, ``named``, ``args``) or None."""
    text = text[:MAX_TEXT]
    flags = 0 if rule.get("case_sensitive") else re.IGNORECASE
    kind, pattern = rule["match"], rule["pattern"]
    if kind == "command":
        word, _, rest = text.strip().partition(" ")
        same = word == pattern if rule.get("case_sensitive") else word.casefold() == pattern.casefold()
        return {"text": word, "groups": [], "named": {}, "args": rest.strip()} if same else None
    if kind == "keyword":
        regex = re.compile(r"(?<!\w)" + re.escape(pattern) + r"(?!\w)", flags)
    else:
        regex = re.compile(pattern, flags)
    found = regex.search(text)
    if found is None:
        return None
    return {"text": found.group(0), "groups": [g or "" for g in found.groups()],
            "named": {k: v or "" for k, v in found.groupdict().items()},
            "args": text[found.end():].strip()}


@dataclass
class BotReply:
    bot: Bot
    rule: dict[str, Any]
    reply: str
    destination: str | None
    queued: bool
    outcome: str
    match: dict[str, Any] = field(default_factory=dict)
    radio_ref: Any = None

    def as_result(self) -> dict[str, Any]:
        return {"matched": True, "bot": self.bot.name, "bot_uid": self.bot.uid,
                "rule": self.rule["name"], "reply": self.reply, "destination": self.destination,
                "queued": self.queued, "outcome": self.outcome, "match": self.match,
                "radio_ref": self.radio_ref}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return value if isinstance(value, str) else str(value)


class BotService:
    def __init__(self, station_id: str, clock: HybridClock, modules: dict[str, Any], *,
                 outbox: bool = True) -> None:
        self.station_id = station_id
        self.clock = clock
        self.modules = modules  # services.modules: the radio, when present
        self.outbox = outbox  # False at central: its changes go down by its own feed

    # -- records -----------------------------------------------------------------------------

    def find(self, ref: str | int) -> Bot:
        return fleet.find(Bot, ref, what="bot")

    def list_bots(self, *, active_only: bool = False) -> list[Bot]:
        query = fleet.live(Bot)
        if active_only:
            query = query.where(Bot.is_active == True)  # noqa: E712
        return list(query.order_by(Bot.name))

    def create(self, data: dict[str, Any], *, origin: str | None = None) -> Bot:
        bot = Bot(rules=[])
        self._set_fields(bot, data, creating=True)
        fleet.save_local(bot, self.clock, origin or self.station_id, outbox=self.outbox)
        return bot

    def update(self, bot: Bot, changes: dict[str, Any], *, origin: str | None = None) -> Bot:
        self._set_fields(bot, changes, creating=False)
        fleet.save_local(bot, self.clock, origin or self.station_id, outbox=self.outbox)
        return bot

    def delete(self, bot: Bot, *, origin: str | None = None) -> None:
        bot.deleted = True
        bot.is_active = False
        fleet.save_local(bot, self.clock, origin or self.station_id, outbox=self.outbox)
        BotCooldown.delete().where(BotCooldown.bot_uid == bot.uid).execute()

    def _set_fields(self, bot: Bot, data: dict[str, Any], *, creating: bool) -> None:
        if not isinstance(data, dict):
            raise InvalidRecord("a bot is a JSON object")
        unknown = sorted(set(data) - {"name", "description", "rules", "is_active"})
        if unknown:
            raise InvalidRecord(f"{unknown[0]}: unknown field")
        if creating or "name" in data:
            bot.name = fleet.check_name(Bot, data.get("name"), what="bot",
                                        exclude_uid=None if creating else bot.uid)
        if creating or "rules" in data:
            bot.rules = check_rules(data.get("rules", []))
        if "description" in data:
            value = data["description"]
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                raise InvalidRecord("description: text of at most 2000 characters")
            bot.description = value
        if "is_active" in data:
            if not isinstance(data["is_active"], bool):
                raise InvalidRecord("is_active: must be true or false")
            bot.is_active = data["is_active"]

    def rule(self, bot: Bot, name: str) -> dict[str, Any]:
        for rule in bot.rules or []:
            if rule.get("name") == name:
                return dict(rule)
        raise NotFound(f"bot {bot.name!r} has no rule {name!r}")

    # -- answering -----------------------------------------------------------------------------

    def on_message(self, event: Event) -> list[Event]:
        """Hook for ``message_received``: each active bot's first matching rule answers."""
        text, sender = event.data.get("text"), event.data.get("from_id")
        if not isinstance(text, str) or not text.strip():
            return []
        sender = sender if isinstance(sender, str) and sender else None
        events = []
        for bot in self.list_bots(active_only=True):
            answer = self.respond(bot, text=text, sender=sender, event=event, cooldown=True)
            if answer is not None:
                events.append(self.fired_event(answer, text, sender, event, event.chain))
        return events

    def respond(self, bot: Bot, *, text: str, sender: str | None, event: Event | None = None,
                cooldown: bool = True, send: bool = True, remember: bool = True,
                execution_uid: str | None = None, action_order: int | None = None,
                attempt: int | None = None) -> BotReply | None:
        """Run the bot's rules on ``text`` as if ``sender`` sent it: the first match answers.

        Returns None when no rule matched (or the matching one is cooling down). With
        ``send=False, remember=False`` it is a dry run that writes nothing.
        """
        for rule in bot.rules or []:
            try:
                match = match_rule(rule, text)
            except (re.error, KeyError, TypeError):
                _LOG.warning("bot %s: rule %s is unusable; skipped", bot.name, rule.get("name"))
                continue
            if match is None:
                continue
            if cooldown and sender and self._cooling(bot, rule, sender):
                return None
            return self.answer(bot, rule, text=text, sender=sender, match=match, event=event,
                               send=send, remember=remember, execution_uid=execution_uid,
                               action_order=action_order, attempt=attempt)
        return None

    def answer(self, bot: Bot, rule: dict[str, Any], *, text: str, sender: str | None,
               match: dict[str, Any] | None = None, event: Event | None = None,
               send: bool = True, remember: bool = True, destination: str | None = None,
               execution_uid: str | None = None, action_order: int | None = None,
               attempt: int | None = None) -> BotReply:
        """Render a rule's reply and queue it (to ``destination``, else as the rule says)."""
        event_vars = event.as_variables() if event is not None else \
            {"type": "bot_input", "text": text, "from_id": sender}
        variables = {"event": event_vars, "match": match or {}, "bot": {"name": bot.name},
                     "rule": {"name": rule["name"]}, "station": {"id": self.station_id}}
        try:
            reply = templating.render(rule["reply"], variables)
        except templating.TemplateError as exc:
            answer = BotReply(bot, rule, "", None, False, f"reply template: {exc}", match or {})
            if remember:
                self._remember(bot, rule, sender, text, answer)
            return answer
        reply = _text(reply).strip()
        channel = event_vars.get("channel", 0)
        channel = channel if isinstance(channel, int) and not isinstance(channel, bool) else 0
        if destination is None:
            destination = sender if rule.get("reply_to", "sender") == "sender" else "^all"
        if not reply:
            answer = BotReply(bot, rule, "", destination, False, "empty reply, not sent",
                              match or {})
        elif not send:
            answer = BotReply(bot, rule, reply, destination, False, "not sent (send: false)",
                              match or {})
        elif destination is None:
            answer = BotReply(bot, rule, reply, None, False, "no sender to reply to",
                              match or {})
        else:
            queued = queue_text(self.modules, destination=destination, text=reply,
                                priority=rule.get("priority", "normal"), channel=channel,
                                execution_uid=execution_uid, action_order=action_order,
                                attempt=attempt)
            answer = BotReply(bot, rule, reply, destination, queued.queued, queued.outcome,
                              match or {}, queued.ref)
        if remember:
            self._remember(bot, rule, sender, text, answer)
        return answer

    def _cooling(self, bot: Bot, rule: dict[str, Any], sender: str) -> bool:
        seconds = int(rule.get("cooldown_seconds", 60))
        if seconds <= 0:
            return False
        row = BotCooldown.get_or_none((BotCooldown.bot_uid == bot.uid)
                                      & (BotCooldown.rule == rule["name"])
                                      & (BotCooldown.sender == sender))
        return row is not None and utcnow() - row.fired_at < dt.timedelta(seconds=seconds)

    def _remember(self, bot: Bot, rule: dict[str, Any], sender: str | None, text: str,
                  answer: BotReply) -> None:
        """The cooldown clock and the record of what was answered (sent or not)."""
        key = sender or "-"
        row = BotCooldown.get_or_none((BotCooldown.bot_uid == bot.uid)
                                      & (BotCooldown.rule == rule["name"])
                                      & (BotCooldown.sender == key))
        if row is None:
            row = BotCooldown(bot_uid=bot.uid, rule=rule["name"], sender=key)
        row.fired_at = utcnow()
        row.fired_count = (row.fired_count or 0) + 1
        row.last_text, row.last_reply, row.last_outcome = text[:500], answer.reply[:1000], \
            answer.outcome[:500]
        row.save()

    def fired_event(self, answer: BotReply, text: str, sender: str | None,
                    cause: Event | None, chain: tuple[str, ...]) -> Event:
        sender_name = cause.data.get("from_name") if cause is not None else None
        return Event(
            type="bot_trigger_fired",
            data={"bot": answer.bot.name, "bot_uid": answer.bot.uid, "rule": answer.rule["name"],
                  "sender": sender, "sender_name": sender_name, "text": text[:MAX_TEXT],
                  "reply": answer.reply, "destination": answer.destination,
                  "queued": answer.queued, "outcome": answer.outcome, "match": answer.match},
            source="module:bots",
            keys=frozenset({bot_key(answer.bot.name)}),
            chain=chain,
            triggered_by=sender or "system",
        )

    def history(self, bot: Bot) -> list[dict[str, Any]]:
        rows = BotCooldown.select().where(BotCooldown.bot_uid == bot.uid) \
            .order_by(BotCooldown.fired_at.desc()).limit(100)
        return [{"rule": r.rule, "sender": r.sender, "fired_at": r.fired_at.isoformat(),
                 "fired_count": r.fired_count, "text": r.last_text, "reply": r.last_reply,
                 "outcome": r.last_outcome} for r in rows]
