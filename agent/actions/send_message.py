"""send_message: a text over the mesh, through the station's paced outbound queue.

To a node (``to``: a node id, number or name), a user or a group (one direct message per node
of each member, resolved by the users module), or a channel broadcast (``to: "^all"``, or no
recipient at all). The action only inserts rows in the outbound queue, in the engine's
transaction (effect local: exactly once); the radio sends them later, in order, within the
airtime budget. The step result lists every queued part with its outbound uid and status, and
is updated as the parts are sent, acknowledged, refused or expire.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.outbound import PRIORITIES

BROADCAST = "^all"


@register_action
class SendMessageAction(ActionType):
    type_name = "send_message"
    description = ("Send a text over the mesh to a node, a user, a group (one direct message "
                   "each) or a channel; long texts are split, sending is paced and budgeted")
    effect = "local"
    needs_radio = True
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 2000},
            "to": {"type": "string", "minLength": 1, "maxLength": 100,
                   "description": "a node id (!a1b2c3d4), node number or name, or ^all"},
            "user": {"type": "string", "minLength": 1, "maxLength": 200,
                     "description": "a user's name or uid: a direct message to each node"},
            "group": {"type": "string", "minLength": 1, "maxLength": 200,
                      "description": "a group's name or uid: a direct message to each "
                                     "member's nodes"},
            "channel": {"type": ["integer", "string"], "minimum": 0, "maximum": 7,
                        "default": 0, "description": "channel index 0..7"},
            "priority": {"type": ["integer", "string"], "minimum": 0, "maximum": 9,
                         "default": "normal",
                         "description": "0 (emergency) .. 9, or " + ", ".join(PRIORITIES)},
            "want_ack": {"type": "boolean", "description": "ask for a routing ACK (default: "
                         "radio.want_ack for direct messages, no for broadcasts)"},
            "expire_after_seconds": {"type": "integer", "minimum": 10, "maximum": 604_800,
                                     "default": 3600,
                                     "description": "still unsent after this: expired"},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "to": "{{ event.from_id }}", "text": "Help is coming, stay where you are",
        "priority": "emergency"}

    def validate_extra(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        targets = [k for k in ("to", "user", "group") if k in config]
        if len(targets) > 1:
            errors.append((targets[1], f"give one of to, user, group (not {' and '.join(targets)})"))
        priority = config.get("priority")
        if isinstance(priority, str) and "{{" not in priority and priority not in PRIORITIES:
            errors.append(("priority", f"must be 0..9 or one of {', '.join(PRIORITIES)}"))
        channel = config.get("channel")
        if isinstance(channel, str) and "{{" not in channel:
            errors.append(("channel", "must be an integer 0..7 (or a template)"))
        return errors

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        radio = ctx.services.get("radio")
        text = str(config.get("text") or "")
        channel = _integer(config.get("channel", 0), "channel")
        priority = _priority(config.get("priority", "normal"))
        recipients = self._recipients(ctx, config)
        messages: list[dict[str, Any]] = []
        for destination in recipients:
            try:
                messages += radio.enqueue(
                    destination=destination, text=text, channel=channel, priority=priority,
                    want_ack=config.get("want_ack"),
                    ttl_seconds=config.get("expire_after_seconds", 3600),
                    execution_uid=ctx.execution_uid, action_order=ctx.action_order,
                    step_attempt=ctx.attempt)
            except (ValueError, RuntimeError) as exc:
                raise ActionFailed(f"{destination}: {exc}", retryable=False) from None
        counts: dict[str, int] = {}
        for message in messages:
            counts[message["status"]] = counts.get(message["status"], 0) + 1
        if counts.get("over_budget"):
            ctx.log("warning", f"{counts['over_budget']} part(s) over the airtime budget: "
                               "not sent")
        if not recipients:
            ctx.log("warning", "no recipient: the user or group has no nodes")
        return {"recipients": recipients, "messages": messages, "status_counts": counts}

    def _recipients(self, ctx: ActionContext, config: dict[str, Any]) -> list[str]:
        user, group = config.get("user") or None, config.get("group") or None
        if user is not None or group is not None:
            users = ctx.services.get("users")
            try:
                return list(users.node_ids_for(user=user, group=group))
            except (LookupError, ValueError) as exc:
                raise ActionFailed(str(exc), retryable=False) from None
        to = str(config.get("to") or BROADCAST).strip()
        if to.lower() in (BROADCAST, "all", "broadcast"):
            return [BROADCAST]
        node_id = ctx.services.get("nodes").resolve(to)
        if node_id is None:
            raise ActionFailed(f"to: no node {to!r} (a node id !a1b2c3d4, a number, a known "
                               "node's name, or ^all)", retryable=False)
        return [node_id]


def _integer(value: Any, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ActionFailed(f"{name}: {value!r} is not an integer", retryable=False) from None


def _priority(value: Any) -> int:
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        if value not in PRIORITIES:
            raise ActionFailed(f"priority: {value!r} is not 0..9 or one of "
                               f"{', '.join(PRIORITIES)}", retryable=False)
        return PRIORITIES[value]
    return _integer(value, "priority")
