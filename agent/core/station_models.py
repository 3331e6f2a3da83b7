"""Station data about the mesh: nodes heard, their positions, and texts waiting to be sent.

These are station-owned working state (central learns of them through events and records in
the outbox, not by copying these tables).
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


class Node(BaseModel):
    """A mesh node this station has heard (the last-heard clock is ours, from every packet)."""

    id = AutoField()
    node_id = CharField(unique=True)  # "!a1b2c3d4"
    num = IntegerField()
    long_name = TextField(null=True)
    short_name = CharField(null=True)
    user_uid = CharField(null=True, index=True)  # the person it belongs to (users module)
    first_heard = DateTimeField(default=utcnow)
    last_heard = DateTimeField(default=utcnow)
    online = BooleanField(default=True)
    battery_level = IntegerField(null=True)
    voltage = FloatField(null=True)
    telemetry_at = DateTimeField(null=True)
    lat = FloatField(null=True)
    lon = FloatField(null=True)
    position_at = DateTimeField(null=True)
    snr = FloatField(null=True)
    rssi = IntegerField(null=True)
    hops = IntegerField(null=True)

    class Meta:
        table_name = "nodes"


class Position(BaseModel):
    """Position history, bounded per node (see the radio module's geolocation store)."""

    id = AutoField()
    node_id = CharField()
    lat = FloatField()
    lon = FloatField()
    altitude = FloatField(null=True)
    at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "positions"
        indexes = ((("node_id", "at"), False),)


OUTBOUND_STATUSES = ("pending", "sent", "acked", "failed", "over_budget", "expired")


class OutboundMessage(BaseModel):
    """A text waiting for the radio: the paced, persistent, budgeted send queue."""

    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    destination = CharField()  # "^all" or a node id
    channel = IntegerField(default=0)
    text = TextField()
    priority = IntegerField(default=5)  # 0 is the most urgent (emergency)
    status = CharField(default="pending")
    created_at = DateTimeField(default=utcnow)
    send_after = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    want_ack = BooleanField(default=False)
    packet_id = IntegerField(null=True, index=True)
    outcome = TextField(null=True)  # routing ACK/NAK reason, or why it was not sent
    airtime_ms = FloatField(null=True)
    part = IntegerField(default=1)
    parts = IntegerField(default=1)
    coalesce_key = CharField(null=True, index=True)
    execution_uid = CharField(null=True)
    step_result = JSONField(null=True)
    # Added by the radio queue: the parts of one text, the step that queued it, retries, expiry.
    group_uid = CharField(null=True, index=True)  # shared by the parts of one text
    action_order = IntegerField(null=True)  # with execution_uid and step_attempt: the step
    step_attempt = IntegerField(null=True)
    send_attempts = IntegerField(default=0)  # transmissions tried (NAK retries count)
    expires_at = DateTimeField(null=True)  # still pending then: expired

    class Meta:
        table_name = "outbound_messages"
        indexes = ((("status", "priority", "id"), False),)


STATION_MODELS: tuple[type[BaseModel], ...] = (Node, Position, OutboundMessage)
