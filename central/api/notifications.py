"""The notifications feed: what stations (and central) sent to users and groups."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from agent.core.module_models import Notification
from agent.modules.notifications import notification_record
from central.api._common import Api, ApiError, Query, Request
from central.api._fleet import PAGE
from central.api._schemas import NULLABLE_STR, TIME, array_of, obj
from central.context import CentralContext

RECIPIENT = {"type": "object", "properties": {
    "user": {"type": "string"}, "node_id": NULLABLE_STR, "channel": {"type": "string"},
    "outcome": {"type": "string"}, "topic": {"type": "string"}}}
NOTIFICATION = obj({
    "id": {"type": "integer"}, "uid": {"type": "string"},
    "target_kind": {"enum": ["user", "group"]}, "target": {"type": "string"},
    "target_uid": {"type": "string"}, "title": NULLABLE_STR, "message": {"type": "string"},
    "priority": {"type": "string"}, "channels": {"type": "array", "items": {"type": "string"}},
    "recipients": {"type": "array", "items": RECIPIENT}, "mqtt_topic": NULLABLE_STR,
    "mqtt_status": NULLABLE_STR, "source": {"type": "string"}, "source_ref": NULLABLE_STR,
    "station_id": {"type": "string"}, "created_at": TIME, "updated_at": TIME,
    "hlc": {"type": "string"},
})


def notification_view(n: Notification) -> dict[str, Any]:
    record = notification_record(n)
    return {"id": n.id, **record, "channels": record["channels"] or [],
            "recipients": record["recipients"] or []}


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="notifications")
    api.schema("Notification", NOTIFICATION)
    api.schema("NotificationList", obj({"notifications": array_of("Notification"),
                                        "total": {"type": "integer"}}))

    @api.get("/api/notifications", "modules:view", "The notifications feed, newest first",
             query=[*PAGE,
                    Query("station_id", str, None, "sent by this station", max_length=64),
                    Query("target", str, None, "to this user or group (name)", max_length=100),
                    Query("target_kind", str, None, "user or group", enum=["user", "group"]),
                    Query("since", str, None, "created at or after (ISO 8601)",
                          format="date-time")],
             response="NotificationList")
    def list_notifications(req: Request) -> dict[str, Any]:
        q = req.query
        query = Notification.select()
        for name in ("station_id", "target", "target_kind"):
            if q[name]:
                query = query.where(getattr(Notification, name) == q[name])
        if q["since"] is not None:
            query = query.where(Notification.created_at >= q["since"])
        page = query.order_by(Notification.created_at.desc(), Notification.id.desc()) \
            .limit(q["limit"]).offset(q["offset"])
        return {"notifications": [notification_view(n) for n in page],
                "total": query.count()}

    @api.get("/api/notifications/{id:int}", "modules:view", "A notification with each "
             "recipient's outcome", response="Notification")
    def get_notification(req: Request, id: int) -> dict[str, Any]:
        row = Notification.get_or_none(Notification.id == id)
        if row is None:
            raise ApiError(404, f"no notification {id}")
        return notification_view(row)
