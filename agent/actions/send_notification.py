"""send_notification: notify a user or a group over its channels (mesh, mqtt, feed)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.context import ActionContext
from agent.engine.registry import ActionFailed, ActionType, register_action
from agent.modules.fleet import InvalidRecord, NotFound
from agent.modules.outbound import PRIORITIES


@register_action
class SendNotificationAction(ActionType):
    type_name = "send_notification"
    description = ("Notify a user or a group over the channels configured for it: mesh direct "
                   "messages, an MQTT topic, central's feed; the result lists each outcome")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "user": {"type": "string", "maxLength": 200, "description": "name or uid"},
            "group": {"type": "string", "maxLength": 200, "description": "name or uid"},
            "message": {"type": "string", "minLength": 1, "maxLength": 2000},
            "title": {"type": "string", "maxLength": 200},
            "priority": {"type": "string", "default": "normal",
                         "description": ", ".join(PRIORITIES)},
            "channels": {"type": "array", "items": {"enum": ["mesh", "mqtt", "feed"]},
                         "uniqueItems": True,
                         "description": "instead of the channels configured for the target"},
        },
        "oneOf": [{"required": ["user"]}, {"required": ["group"]}],
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "group": "medics", "title": "SOS",
        "message": "{{ event.title }} near {{ event.zone | default('unknown zone') }}"}

    def validate_extra(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        priority = config.get("priority", "normal")
        if "{{" not in priority and priority not in PRIORITIES:
            return [("priority", f"must be one of {', '.join(PRIORITIES)}")]
        return []

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        notifications = ctx.services.get("notifications")
        ctx.services.get("users")  # names the missing module, if it is missing
        try:
            return dict(notifications.send(
                message=str(config.get("message") or ""), user=config.get("user") or None,
                group=config.get("group") or None, title=config.get("title") or None,
                priority=str(config.get("priority") or "normal"),
                channels=config.get("channels"), source="process",
                source_ref=ctx.execution_uid, execution_uid=ctx.execution_uid,
                action_order=ctx.action_order, attempt=ctx.attempt))
        except (NotFound, InvalidRecord) as exc:
            raise ActionFailed(str(exc), retryable=False) from None
