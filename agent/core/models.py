"""The data model shared by the agent and central (peewee, SQLite or PostgreSQL).

The seed spec's six tables keep its table names, column names and status words; what real
operation needs is added, never renamed:

- ``uid``: a global id (UUIDv7) per row, so a row keeps its identity across databases;
- ``hlc``: the hybrid-logical-clock time of the last change, for last-writer-wins merges;
- ``station_id``: the station a station-owned row (execution, alert) comes from;
- ``deleted``: tombstones for fleet-owned rows, so deletes travel like edits.

Integer ids are local to one database. A reference that crosses databases (an execution's
process, a step's action) is carried by uid as well (``process_uid``, ``action_uid``).

The models bind to ``database``, a proxy that the agent points at its SQLite file and central at
SQLite or PostgreSQL (see agent/core/db.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
from peewee import (
    AutoField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from agent.core.ids import new_uid

database = DatabaseProxy()

# Execution statuses: the spec's four, plus what real operation needs.
EXECUTION_STATUSES = (
    "queued",  # waiting for its turn (mode queued), or handed to stations and not yet reported
    "running",
    "waiting",  # durable delay or retry back-off: resumes at ``resume_at``
    "completed",
    "failed",
    "timeout",
    "interrupted",  # cut by a crash or power loss in a step that is unsafe to repeat
    "dropped",  # not run: mode single/queued/parallel was full, or a guard refused it
    "cancelled",  # superseded by a newer run (mode restart)
)
FINISHED_STATUSES = frozenset(
    {"completed", "failed", "timeout", "interrupted", "dropped", "cancelled"}
)
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped")
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "acknowledged", "resolved")


def utcnow() -> dt.datetime:
    """Naive UTC now, the one time representation of every timestamp column."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def unix_time(value: dt.datetime) -> float:
    """A naive UTC timestamp (see ``utcnow``) as Unix seconds."""
    return value.replace(tzinfo=dt.UTC).timestamp()


# Compact, sorted keys, UTF-8, anything else as its str(). msgspec writes it in C, ten times
# faster than the standard library (central's ingest writes three JSON values a record); the
# standard library takes the maps msgspec will not sort (keys that are not text).
_JSON_TEXT = msgspec.json.Encoder(order="sorted", enc_hook=str)
_JSON_TEXT_ANY_KEYS = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str,
                                       ensure_ascii=False)


def json_text(value: Any) -> str:
    """``value`` as the JSON text the database stores."""
    try:
        return _JSON_TEXT.encode(value).decode()
    except TypeError:
        return _JSON_TEXT_ANY_KEYS.encode(value)


class JSONField(TextField):
    """JSON in a TEXT column, as the spec's ``trigger_config TEXT -- JSON`` columns are."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json_text(value)

    def python_value(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        return json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class AdminUser(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    username = CharField(unique=True)
    password_hash = TextField()
    role = CharField(default="viewer")
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "admin_users"


class ProcessTemplate(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    name = TextField()
    description = TextField(null=True)
    category = CharField(null=True)  # emergency, maintenance, communication, monitoring
    template_data = JSONField()
    usage_count = IntegerField(default=0)
    created_by = IntegerField(null=True)  # admin_users.id at central
    created_at = DateTimeField(default=utcnow)
    is_public = BooleanField(default=True)
    updated_at = DateTimeField(default=utcnow)
    hlc = CharField(default="")
    deleted = BooleanField(default=False)

    class Meta:
        table_name = "process_templates"


class Process(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    name = TextField()
    description = TextField(null=True)
    template_id = IntegerField(null=True)  # process_templates.id in this database
    created_by = IntegerField(null=True)  # admin_users.id at central
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    is_active = BooleanField(default=True)
    execution_count = IntegerField(default=0)
    last_executed = DateTimeField(null=True)
    success_rate = FloatField(default=0.0)
    avg_execution_time = FloatField(null=True)  # milliseconds
    # Added for real operation:
    success_count = IntegerField(default=0)
    mode = CharField(default="single")  # single, restart, queued, parallel
    max_runs = IntegerField(default=10)  # the mode's bound ("max")
    stations = JSONField(default=lambda: ["*"])  # station ids it runs on; "*" for all
    version = IntegerField(default=1)
    hlc = CharField(default="")
    origin = CharField(default="")  # where the last edit was made: "central" or a station id
    deleted = BooleanField(default=False)
    paused = BooleanField(default=False)  # paused automatically by the rate guard, or by command
    pause_reason = TextField(null=True)

    class Meta:
        table_name = "processes"
        indexes = ((("updated_at",), False),)


class ProcessVersion(BaseModel):
    """Every version of a process definition: an execution runs against the one it started with."""

    id = AutoField()
    process = ForeignKeyField(Process, backref="versions", on_delete="CASCADE")
    version = IntegerField()
    definition = JSONField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "process_versions"
        indexes = ((("process", "version"), True),)


class ProcessTrigger(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    process = ForeignKeyField(Process, backref="triggers", on_delete="CASCADE")
    trigger_type = CharField()
    trigger_config = JSONField()
    conditions = JSONField(null=True)
    priority = IntegerField(default=0)
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "process_triggers"
        indexes = ((("trigger_type",), False),)


class ProcessAction(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    process = ForeignKeyField(Process, backref="actions", on_delete="CASCADE")
    action_type = CharField()
    action_config = JSONField()
    conditions = JSONField(null=True)
    action_order = IntegerField()
    timeout_seconds = IntegerField(default=30)
    retry_count = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "process_actions"


class ProcessExecution(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    process_id = IntegerField()  # processes.id in this database; indexed with started_at
    triggered_by = TextField(null=True)  # a user id, a node id, or "system"
    trigger_event = JSONField(null=True)
    started_at = DateTimeField(default=utcnow)
    completed_at = DateTimeField(null=True)
    status = CharField(default="running")
    error_message = TextField(null=True)
    execution_time_ms = IntegerField(null=True)
    steps_completed = IntegerField(default=0)
    total_steps = IntegerField(null=True)
    # Added for real operation:
    process_uid = CharField(default="")
    process_version = IntegerField(default=1)
    station_id = CharField(default="")
    trigger_type = CharField(null=True)
    resume_at = DateTimeField(null=True)  # for waiting executions
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "process_executions"
        indexes = (
            (("process_id", "started_at"), False),
            (("status", "started_at"), False),
            (("started_at",), False),
            (("station_id", "started_at"), False),
            (("updated_at",), False),  # the admin page's live feed (central/api/web_events.py)
        )


class ProcessExecutionStep(BaseModel):
    """One attempt of one action: a retried action has a row per attempt (retry_count 0, 1...)."""

    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    execution = ForeignKeyField(ProcessExecution, backref="steps", on_delete="CASCADE")
    action_id = IntegerField()  # process_actions.id in this database
    started_at = DateTimeField(default=utcnow)
    completed_at = DateTimeField(null=True)
    status = CharField(default="pending")
    result = JSONField(null=True)
    error_message = TextField(null=True)
    execution_time_ms = IntegerField(null=True)
    retry_count = IntegerField(default=0)
    # Added:
    action_uid = CharField(default="")
    action_order = IntegerField(default=0)
    action_type = CharField(default="")

    class Meta:
        table_name = "process_execution_steps"


class ProcessExecutionLog(BaseModel):
    """The ordered log lines of an execution: triggered, conditions, attempts, retries, end."""

    id = AutoField()
    # Indexed by the unique (execution, seq) index below.
    execution = ForeignKeyField(ProcessExecution, backref="logs", on_delete="CASCADE",
                                index=False)
    seq = IntegerField()
    at = DateTimeField(default=utcnow)
    level = CharField(default="info")
    step = IntegerField(null=True)  # action_order of the step it concerns
    message = TextField()

    class Meta:
        table_name = "process_execution_logs"
        indexes = ((("execution", "seq"), True),)


class Alert(BaseModel):
    id = AutoField()
    uid = CharField(unique=True, default=new_uid)
    severity = CharField(default="info")
    title = TextField()
    message = TextField(default="")
    source = CharField(default="operator")  # process, node, operator, system
    source_ref = TextField(null=True)  # execution uid, node id or user name
    process_uid = CharField(null=True)  # the process that raised it (resolve_alert finds it)
    node_id = CharField(null=True)
    zone = TextField(null=True)
    lat = FloatField(null=True)
    lon = FloatField(null=True)
    status = CharField(default="open")
    created_at = DateTimeField(default=utcnow)
    created_by = TextField(null=True)
    acknowledged_at = DateTimeField(null=True)
    acknowledged_by = TextField(null=True)
    resolved_at = DateTimeField(null=True)
    resolved_by = TextField(null=True)
    station_id = CharField(default="")
    updated_at = DateTimeField(default=utcnow)
    hlc = CharField(default="")

    class Meta:
        table_name = "alerts"
        indexes = ((("status", "created_at"), False),)


class Outbox(BaseModel):
    """Station-owned records waiting for central's end-to-end acknowledgement.

    Written in the same transaction as the record it carries; deleted only once central has
    committed it. ``seq`` orders the station's records.
    """

    seq = AutoField()
    kind = CharField()  # execution, alert, process, ...
    uid = CharField()
    payload = BlobField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "outbox"


class KeyValue(BaseModel):
    """Small station state that must survive restarts (sync watermarks, incarnation...)."""

    key = CharField(primary_key=True)
    value = JSONField(null=True)

    class Meta:
        table_name = "key_value"


CORE_MODELS: tuple[type[BaseModel], ...] = (
    AdminUser,
    ProcessTemplate,
    Process,
    ProcessVersion,
    ProcessTrigger,
    ProcessAction,
    ProcessExecution,
    ProcessExecutionStep,
    ProcessExecutionLog,
    Alert,
    Outbox,
    KeyValue,
)
