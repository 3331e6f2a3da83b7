"""trigger_bot_response: send one named rule's reply of a bot, without matching."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import NotFound


@register_action
class TriggerBotResponseAction(ActionType):
    type_name = "trigger_bot_response"
    description = ("Send a bot rule's templated reply to a node or the channel, without "
                   "matching (the rule's reply sees the input text as event.text)")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["bot", "rule"],
        "properties": {
            "bot": {"type": "string", "minLength": 1, "maxLength": 200},
            "rule": {"type": "string", "minLength": 1, "maxLength": 100},
            "to": {"type": "string", "maxLength": 200,
                   "description": "a node id or ^all; default: as the rule says, to the sender"},
            "sender": {"type": "string", "maxLength": 200},
            "text": {"type": "string", "maxLength": 1000,
                     "description": "the input the reply may quote"},
            "send": {"type": "boolean", "default": True},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"bot": "helpdesk", "rule": "sos",
                                         "sender": "{{ event.from_id }}",
                                         "text": "{{ event.text }}"}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        bots = ctx.services.get("bots")
        try:
            bot = bots.find(str(config["bot"]))
            rule = bots.rule(bot, str(config["rule"]))
        except NotFound as exc:
            raise ActionFailed(str(exc), retryable=False) from None
        text, sender = str(config.get("text") or ""), config.get("sender") or None
        answer = bots.answer(bot, rule, text=text, sender=sender,
                             destination=config.get("to") or None,
                             send=bool(config.get("send", True)),
                             execution_uid=ctx.execution_uid, action_order=ctx.action_order,
                             attempt=ctx.attempt)
        if answer.outcome.startswith("reply template"):
            raise ActionFailed(answer.outcome, retryable=False)
        ctx.emitted.append(bots.fired_event(answer, text, sender, None, ctx.chain))
        return dict(answer.as_result())
