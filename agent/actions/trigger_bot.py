"""trigger_bot: run a bot's rules on an input text, as if a sender had sent it."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import NotFound


@register_action
class TriggerBotAction(ActionType):
    type_name = "trigger_bot"
    description = ("Run a bot's rules on a text as if the sender had sent it: the first "
                   "matching rule answers (result: matched, rule, reply, outcome)")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["bot", "text"],
        "properties": {
            "bot": {"type": "string", "minLength": 1, "maxLength": 200},
            "text": {"type": "string", "minLength": 1, "maxLength": 1000},
            "sender": {"type": "string", "maxLength": 200,
                       "description": "the node the reply goes to (e.g. {{ event.from_id }})"},
            "send": {"type": "boolean", "default": True,
                     "description": "false: render the reply without sending it"},
            "respect_cooldown": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"bot": "helpdesk", "text": "{{ event.text }}",
                                         "sender": "{{ event.from_id }}"}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        bots = ctx.services.get("bots")
        try:
            bot = bots.find(str(config["bot"]))
        except NotFound as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        if not bot.is_active:
            raise ActionFailed(f"bot {bot.name!r} is not active", retryable=False)
        text, sender = str(config.get("text") or ""), config.get("sender") or None
        answer = bots.respond(bot, text=text, sender=sender,
                              cooldown=bool(config.get("respect_cooldown", False)),
                              send=bool(config.get("send", True)),
                              execution_uid=ctx.execution_uid, action_order=ctx.action_order,
                              attempt=ctx.attempt)
        if answer is None:
            return {"matched": False, "bot": bot.name, "bot_uid": bot.uid, "rule": None,
                    "reply": None, "queued": False, "outcome": "no rule matched"}
        ctx.emitted.append(bots.fired_event(answer, text, sender, None, ctx.chain))
        return dict(answer.as_result())
