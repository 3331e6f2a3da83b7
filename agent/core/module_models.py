"""The station modules' data: zones, users and groups, bots, notifications.

Two kinds of rows:

- **Fleet-owned** records (zones, users, groups, bots) are held fleet-wide by central; each
  station keeps a working copy so processes run offline. They carry ``uid`` (global id),
  ``hlc`` (hybrid-logical-clock time of the last change, the last-writer-wins key),
  ``updated_at``, ``origin`` (where the last change was made: "central" or a station id) and
  ``deleted`` (a tombstone, so deletes travel like edits). A local edit on a station writes an
  outbox row in the same transaction, so it is never lost while the link is down.
- **Station state** (zone presence, bot cooldowns) is local working memory, never synced.
- **Station-owned** records (notifications, like alerts) go up through the outbox.

Group membership is carried by the user: ``User.groups`` is a JSON list of group uids, so a
membership change is one record (the user's) that syncs and merges as a whole.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    IntegerField,
    TextField,
)

from agent.core.ids import new_uid
from agent.core.models import BaseModel, JSONField, utcnow

ZONE_SHAPES = ("circle", "polygon")
NOTIFICATION_CHANNELS = ("mesh", "mqtt", "feed")
BOT_MATCH_KINDS = ("keyword", "command", "regex")


class FleetRecord(BaseModel):
    """The columns every fleet-owned record has (not a table itself)."""

    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)
    hlc = CharField(default="")
    origin = CharField(default="")  # "central" or the station id of the last edit
    deleted = BooleanField(default=False)


class Zone(FleetRecord):
    """A named area: a circle (centre and radius) or a polygon of [lat, lon] vertices."""

    id = AutoField()
    name = TextField()
    shape = CharField(default="circle")  # circle, polygon
    center_lat = FloatField()  # a polygon's centroid
    center_lon = FloatField()
    radius_m = FloatField(null=True)  # circle only
    polygon = JSONField(null=True)  # polygon only: [[lat, lon], ...]
    margin_m = FloatField(default=25.0)  # hysteresis: inside/outside by more than this
    is_active = BooleanField(default=True)
    metadata = JSONField(default=dict)

    class Meta:
        table_name = "zones"


class ZonePresence(BaseModel):
    """Whether a node is inside a zone (station state, with hysteresis; not synced)."""

    id = AutoField()
    zone_uid = CharField()
    node_id = CharField(index=True)
    inside = BooleanField(default=False)
    distance_m = FloatField(null=True)  # signed distance to the boundary (+ inside)
    position_at = DateTimeField(null=True)  # time of the position last evaluated
    changed_at = DateTimeField(default=utcnow)  # last entry or exit

    class Meta:
        table_name = "zone_presence"
        indexes = ((("zone_uid", "node_id"), True),)


class User(FleetRecord):
    """A person with one or more mesh nodes, member of groups."""

    id = AutoField()
    name = TextField()
    node_ids = JSONField(default=list)  # ["!a1b2c3d4", ...]
    groups = JSONField(default=list)  # group uids
    channels = JSONField(default=lambda: ["mesh"])  # how notifications reach this user
    is_active = BooleanField(default=True)
    metadata = JSONField(default=dict)

    class Meta:
        table_name = "users"


class Group(FleetRecord):
    """A named set of users (medics, north-team); membership lives in User.groups."""

    id = AutoField()
    name = TextField()
    description = TextField(null=True)
    channels = JSONField(default=lambda: ["mesh", "feed"])  # how notifications reach it
    mqtt_topic = TextField(null=True)  # for the mqtt channel; a default is derived
    is_active = BooleanField(default=True)
    metadata = JSONField(default=dict)

    class Meta:
        table_name = "groups"


class Bot(FleetRecord):
    """A named set of message rules (keyword, command or regex -> templated reply)."""

    id = AutoField()
    name = TextField()
    description = TextField(null=True)
    rules = JSONField(default=list)  # see agent/modules/bots.py RULE_SCHEMA
    is_active = BooleanField(default=True)

    class Meta:
        table_name = "bots"


class BotCooldown(BaseModel):
    """When a bot's rule last answered a sender, and what it did (station state)."""

    id = AutoField()
    bot_uid = CharField()
    rule = CharField()
    sender = CharField()
    fired_at = DateTimeField(default=utcnow)
    fired_count = IntegerField(default=0)
    last_text = TextField(null=True)
    last_reply = TextField(null=True)
    last_outcome = TextField(null=True)

    class Meta:
        table_name = "bot_cooldowns"
        indexes = ((("bot_uid", "rule", "sender"), True),)


class Notification(BaseModel):
    """A notification sent to a user or a group, with each recipient's outcome (station-owned)."""

    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    target_kind = CharField()  # user, group
    target = TextField()  # the user's or group's name
    target_uid = CharField(default="")
    title = TextField(null=True)
    message = TextField()
    priority = CharField(default="normal")  # normal, high, emergency
    channels = JSONField(default=list)
    recipients = JSONField(default=list)  # [{user, node_id, channel, outcome}, ...]
    mqtt_topic = TextField(null=True)
    mqtt_status = CharField(null=True)  # published, queued (not connected), none
    source = CharField(default="process")  # process, operator
    source_ref = TextField(null=True)  # execution uid, or who sent it
    station_id = CharField(default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    hlc = CharField(default="")

    class Meta:
        table_name = "notifications"
        indexes = ((("created_at",), False),)


MODULE_MODELS: tuple[type[BaseModel], ...] = (
    Zone,
    ZonePresence,
    User,
    Group,
    Bot,
    BotCooldown,
    Notification,
)

FLEET_MODELS: dict[str, type[FleetRecord]] = {
    "zone": Zone,
    "user": User,
    "group": Group,
    "bot": Bot,
}
"""Fleet-owned record kinds (the outbox ``kind`` and the sync feed's name) -> model."""
