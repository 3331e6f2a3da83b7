"""bot_trigger_fired: a bot's rule answered a message (keyed by bot name)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType, register_trigger
from agent.modules.bots import bot_key


@register_trigger
class BotTriggerFiredTrigger(TriggerType):
    type_name = "bot_trigger_fired"
    description = "A bot's rule matched a message and answered (bot, rule, sender, text, reply)"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "bot": {"type": "string", "minLength": 1, "maxLength": 100,
                    "description": "the bot's name; absent: any bot"},
            "rule": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"bot": "helpdesk", "rule": "sos"}

    def index_keys(self) -> frozenset[str] | None:
        bot = self.config.get("bot")
        return frozenset({bot_key(bot)}) if bot else None

    def matches(self, event: Event) -> bool:
        bot, rule = self.config.get("bot"), self.config.get("rule")
        if bot is not None and bot_key(str(event.data.get("bot") or "")) != bot_key(bot):
            return False
        return rule is None or event.data.get("rule") == rule
