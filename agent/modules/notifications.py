"""Notifications to a user or a group, over the channels configured for it.

- ``mesh``: a direct message to each node of each recipient, through the radio's outbound queue
  (paced and within its airtime budget);
- ``mqtt``: one JSON message on the group's (or user's) topic for monitoring systems, through
  the sync client's ``publish(topic, payload)`` when it is connected; otherwise the outcome is
  "mqtt: not connected, queued" and the notification record (which carries topic and payload)
  goes up through the outbox for central to deliver;
- ``feed``: the record goes up through the outbox; central shows it at GET /api/notifications.

Every notification is a station-owned record (``notifications`` table, outbox kind
``notification``) listing each recipient and channel with its outcome.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from agent.core.codec import encode
from agent.core.ids import HybridClock
from agent.core.models import Outbox, utcnow
from agent.core.module_models import NOTIFICATION_CHANNELS, Group, Notification, User
from agent.modules.fleet import InvalidRecord
from agent.modules.outbound import PRIORITIES, queue_text

_LOG = logging.getLogger(__name__)

MQTT_NOT_CONNECTED = "mqtt: not connected, queued"
FEED_QUEUED = "queued for central"
MAX_MESSAGE = 2000
_SLUG = re.compile(r"[^a-z0-9]+")


def notification_record(n: Notification) -> dict[str, Any]:
    return {
        "uid": n.uid, "target_kind": n.target_kind, "target": n.target,
        "target_uid": n.target_uid, "title": n.title, "message": n.message,
        "priority": n.priority, "channels": n.channels, "recipients": n.recipients,
        "mqtt_topic": n.mqtt_topic, "mqtt_status": n.mqtt_status, "source": n.source,
        "source_ref": n.source_ref, "station_id": n.station_id,
        "created_at": n.created_at.isoformat() if n.created_at else None,
        "updated_at": n.updated_at.isoformat() if n.updated_at else None, "hlc": n.hlc,
    }


def default_topic(station_id: str, kind: str, name: str) -> str:
    """``firefly/v1/stations/<station>/out/notifications/<group|user>/<slug>``."""
    from agent.sync.protocol import out_topic  # the topic tree has one home

    slug = _SLUG.sub("-", name.casefold()).strip("-") or "unnamed"
    return out_topic(station_id, f"notifications/{kind}/{slug}")


class NotificationService:
    def __init__(self, station_id: str, clock: HybridClock, modules: dict[str, Any], *,
                 outbox: bool = True) -> None:
        self.station_id = station_id
        self.clock = clock
        self.modules = modules  # radio, mqtt, users
        self.outbox = outbox

    def send(self, *, message: str, user: str | None = None, group: str | None = None,
             title: str | None = None, priority: str = "normal",
             channels: list[str] | None = None, source: str = "process",
             source_ref: str | None = None, execution_uid: str | None = None,
             action_order: int | None = None, attempt: int | None = None) -> dict[str, Any]:
        """Notify a user or a group (by name or uid); returns the result with each recipient
        and channel's outcome. Raises NotFound (unknown target) or InvalidRecord."""
        if (user is None) == (group is None):
            raise InvalidRecord("give either a user or a group")
        if not isinstance(message, str) or not message.strip():
            raise InvalidRecord("message: required")
        if priority not in PRIORITIES:
            raise InvalidRecord(f"priority: must be one of {', '.join(PRIORITIES)}")
        users_module = self.modules["users"]
        target: User | Group
        people: list[User]
        if user is not None:
            person: User = users_module.find_user(user)
            target, people, kind = person, [person], "user"
        else:
            target = users_module.find_group(group)
            if not target.is_active:
                raise InvalidRecord(f"group {target.name!r} is not active")
            people = users_module.members(target)
            kind = "group"
        wanted = list(target.channels or []) if channels is None else channels
        bad = [c for c in wanted if c not in NOTIFICATION_CHANNELS]
        if bad:
            raise InvalidRecord(f"channels: {bad[0]!r} is not one of "
                                f"{', '.join(NOTIFICATION_CHANNELS)}")
        text = message.strip()[:MAX_MESSAGE]
        mesh_text = f"{title.strip()}: {text}" if title and title.strip() else text
        notification = Notification(
            target_kind=kind, target=target.name, target_uid=target.uid, title=title,
            message=text, priority=priority, channels=wanted, source=source,
            source_ref=source_ref, station_id=self.station_id)
        recipients: list[dict[str, Any]] = []
        if "mesh" in wanted:
            recipients += self._mesh(people, mesh_text, priority, notification.uid,
                                     execution_uid, action_order, attempt)
        if "mqtt" in wanted:
            recipients.append(self._mqtt(notification, target, kind, people))
        if "feed" in wanted:
            recipients.append({"user": target.name, "node_id": None, "channel": "feed",
                               "outcome": FEED_QUEUED})
        notification.recipients = recipients
        notification.updated_at = utcnow()
        notification.hlc = self.clock.now()
        notification.save()
        if self.outbox:
            Outbox.create(kind="notification", uid=notification.uid,
                          payload=encode("notification", notification_record(notification)))
        delivered = sum(1 for r in recipients if r["outcome"] == "published"
                        or r["outcome"].startswith("queued"))
        return {"notification_uid": notification.uid, "target": target.name,
                "target_kind": kind, "channels": wanted, "recipients": recipients,
                "users": [p.name for p in people], "delivered": delivered,
                "not_delivered": len(recipients) - delivered}

    def _mesh(self, people: list[User], text: str, priority: str, notification_uid: str,
              execution_uid: str | None, action_order: int | None,
              attempt: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for person in people:
            if not person.is_active:
                out.append({"user": person.name, "node_id": None, "channel": "mesh",
                            "outcome": "user inactive, not sent"})
                continue
            if not person.node_ids:
                out.append({"user": person.name, "node_id": None, "channel": "mesh",
                            "outcome": "no node, not sent"})
                continue
            for node_id in person.node_ids:
                queued = queue_text(self.modules, destination=node_id, text=text,
                                    priority=priority, execution_uid=execution_uid,
                                    action_order=action_order, attempt=attempt,
                                    coalesce_key=f"notification:{notification_uid}:{node_id}")
                entry = {"user": person.name, "node_id": node_id, "channel": "mesh",
                         "outcome": queued.outcome}
                if queued.ref is not None:
                    entry["radio_ref"] = queued.ref
                out.append(entry)
        return out

    def _mqtt(self, notification: Notification, target: User | Group, kind: str,
              people: list[User]) -> dict[str, Any]:
        topic = getattr(target, "mqtt_topic", None) or default_topic(self.station_id, kind,
                                                                    target.name)
        payload = json.dumps({
            "v": 1, "uid": notification.uid, "station_id": self.station_id,
            "target_kind": kind, "target": target.name, "title": notification.title,
            "message": notification.message, "priority": notification.priority,
            "users": [p.name for p in people], "at": utcnow().isoformat() + "Z",
        }, sort_keys=True)
        notification.mqtt_topic = topic
        mqtt = self.modules.get("mqtt")
        outcome = MQTT_NOT_CONNECTED
        if mqtt is not None:
            try:
                sent = mqtt.publish(topic, payload)
            except Exception as exc:  # noqa: BLE001 - the record still goes up the outbox
                _LOG.warning("mqtt publish of notification %s failed: %s", notification.uid, exc)
                sent = False
            if sent is not False:
                outcome = "published"
        notification.mqtt_status = "published" if outcome == "published" else "queued"
        return {"user": target.name, "node_id": None, "channel": "mqtt", "topic": topic,
                "outcome": outcome}

    def recent(self, limit: int = 50) -> list[Notification]:
        return list(Notification.select().order_by(Notification.id.desc())
                    .limit(max(1, min(limit, 1000))))


__all__ = ["MQTT_NOT_CONNECTED", "NotificationService", "default_topic",
           "notification_record"]
