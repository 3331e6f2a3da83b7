"""The station <-> central MQTT protocol: topics, message kinds, version, body checks.

One module used by both sides (the agent's sync client and central's ingest); docs/protocol.md
describes the same tree for people and monitoring tools. Everything here is pure: no paho, no
database.

Topic tree (``firefly/v1``: the protocol's major version is part of every topic)::

    firefly/v1/stations/<station>/up/batch        station -> central  msgpack "batch"
    firefly/v1/stations/<station>/up/hello        station -> central  msgpack "hello"
    firefly/v1/stations/<station>/down/ack        central -> station  msgpack "ack"
    firefly/v1/stations/<station>/down/changes    central -> station  msgpack "changes"
    firefly/v1/stations/<station>/down/command    central -> station  msgpack "command"
    firefly/v1/stations/<station>/status          station, retained    JSON (will: offline)
    firefly/v1/stations/<station>/heartbeat       station, retained    JSON
    firefly/v1/stations/<station>/out/...         station modules (notifications), free form
    firefly/v1/central/status/<worker>            central, retained    JSON (will: offline)

msgpack messages are ``{"v": version, "t": kind, "b": body}`` (agent.core.codec); JSON
messages carry ``"v"`` as well. A message whose version is not supported, whose kind does not
belong on its topic, or whose body does not have the documented shape is rejected with a
reason (``ProtocolError``) and never acted upon.

Versions: ``VERSION`` is the major (in every topic and every message); ``PROTOCOL_MINOR``
counts the compatible additions within it (``ADDED_IN`` says which field came with which
minor). A station tells central its minor and its software version in ``hello``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import metadata
from typing import Any

from agent.core.codec import SCHEMA_VERSION, DecodeError, decode, encode

VERSION = SCHEMA_VERSION  # the major version: a new one gets new topics (firefly/v2/...)
# Compatible additions within the major: 1.0 the first release; 1.1 hello carries
# "agent_version" and "protocol_minor". Receivers ignore fields they do not know.
PROTOCOL_MINOR = 1
PACKAGE = "firefly-processes"  # whose installed version a station reports in hello
ROOT = "firefly/v1"
STATIONS = f"{ROOT}/stations"
CENTRAL_STATUS = f"{ROOT}/central/status"
SHARE_GROUP = "central"

STATION_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

# Message kinds (the codec's type tag) and the topic leaf each travels on.
BATCH = "batch"  # outbox records, up
HELLO = "hello"  # a station (re)connected or wants the next page of changes, up
ACK = "ack"  # central committed a batch, down
CHANGES = "changes"  # fleet-owned records since a watermark, down
COMMAND = "command"  # run / pause / resume, down

UP = {BATCH: "up/batch", HELLO: "up/hello"}
DOWN = {ACK: "down/ack", CHANGES: "down/changes", COMMAND: "down/command"}
LEAF_KIND = {leaf: kind for kind, leaf in (*UP.items(), *DOWN.items())}
STATUS_LEAF = "status"
HEARTBEAT_LEAF = "heartbeat"

# Outbox record kinds a station may send up, and fleet record kinds central sends down.
STATION_OWNED = ("execution", "alert", "notification", "command")
FLEET_KINDS = ("process", "template", "zone", "user", "group", "bot")
UP_RECORD_KINDS = (*STATION_OWNED, *FLEET_KINDS)
COMMAND_KINDS = ("run", "pause", "resume")

# Sizes (MQTT payloads stay well under the broker's message_size_limit).
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 192 * 1024
MAX_MESSAGE_BYTES = 1024 * 1024


class ProtocolError(ValueError):
    """A message that is not acted upon; the message is the reason (kept in dead letters)."""


# -- topics --------------------------------------------------------------------------------


def check_station_id(station: str) -> str:
    if not isinstance(station, str) or not STATION_ID.fullmatch(station):
        raise ProtocolError(f"station id {station!r} is not valid")
    return station


def station_topic(station: str, leaf: str) -> str:
    return f"{STATIONS}/{check_station_id(station)}/{leaf}"


def up_topic(station: str, kind: str) -> str:
    return station_topic(station, UP[kind])


def down_topic(station: str, kind: str) -> str:
    return station_topic(station, DOWN[kind])


def status_topic(station: str) -> str:
    return station_topic(station, STATUS_LEAF)


def heartbeat_topic(station: str) -> str:
    return station_topic(station, HEARTBEAT_LEAF)


def out_topic(station: str, suffix: str) -> str:
    """Where a station's modules publish for others (notifications to an MQTT channel)."""
    return station_topic(station, f"out/{suffix.strip('/')}")


def central_status_topic(worker: str) -> str:
    return f"{CENTRAL_STATUS}/{check_station_id(worker)}"


def parse_station_topic(topic: str) -> tuple[str, str]:
    """``firefly/v1/stations/<station>/<leaf>`` -> (station, leaf); ProtocolError otherwise."""
    prefix = STATIONS + "/"
    if not topic.startswith(prefix):
        raise ProtocolError(f"topic {topic!r} is not under {STATIONS}/")
    station, _, leaf = topic[len(prefix):].partition("/")
    check_station_id(station)
    if not leaf:
        raise ProtocolError(f"topic {topic!r} has no leaf")
    return station, leaf


def central_subscriptions(shared: bool = True) -> list[str]:
    """What central's ingest workers subscribe to (shared: each message to one worker)."""
    filters = [f"{STATIONS}/+/up/#", f"{STATIONS}/+/{STATUS_LEAF}",
               f"{STATIONS}/+/{HEARTBEAT_LEAF}"]
    if shared:
        return [f"$share/{SHARE_GROUP}/{f}" for f in filters]
    return filters


def station_subscriptions(station: str) -> list[str]:
    return [station_topic(station, "down/#"), f"{CENTRAL_STATUS}/+"]


# -- body checks ---------------------------------------------------------------------------
# Each kind: field -> (type or tuple of types, required). Extra fields are ignored (a newer
# minor version may add some); a missing required field or a wrong type is an error.

Spec = dict[str, tuple[type | tuple[type, ...], bool]]
_OPT_STR = (str, type(None))

BODY_SPECS: dict[str, Spec] = {
    BATCH: {"station": (str, True), "inc": (str, True), "from": (int, True),
            "records": (list, True)},
    HELLO: {"station": (str, True), "inc": (str, True), "acked": (int, True),
            "feed": (int, True), "want_changes": (bool, False),
            "agent_version": (str, False), "protocol_minor": (int, False)},
    ACK: {"station": (str, True), "inc": (str, True), "upto": (int, True),
          "last": (int, True)},
    CHANGES: {"station": (str, True), "since": (int, True), "upto": (int, True),
              "more": (bool, True), "records": (list, True)},
    COMMAND: {"station": (str, True), "uid": (str, True), "kind": (str, True),
              "process_uid": (str, True), "execution_uid": (_OPT_STR, False),
              "payload": ((dict, type(None)), False), "expires_at": (str, True)},
}
BATCH_RECORD: Spec = {"seq": (int, True), "kind": (str, True), "uid": (str, True),
                      "payload": (bytes, True)}
CHANGE_RECORD: Spec = {"kind": (str, True), "uid": (str, True), "hlc": (str, True),
                       "deleted": (bool, True), "record": ((dict, type(None)), True)}

# kind -> field -> the minor version that added it (fields of 1.0 are not listed). Every
# field added within the major is optional; a receiver takes its absence as the older minor.
ADDED_IN: dict[str, dict[str, int]] = {
    HELLO: {"agent_version": 1, "protocol_minor": 1},
}


@cache
def software_version() -> str | None:
    """The installed agent's version (package metadata); None when it is not installed."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def hello_versions() -> dict[str, Any]:
    """What a hello says about the station's versions (protocol 1.1 and later)."""
    fields: dict[str, Any] = {"protocol_minor": PROTOCOL_MINOR}
    agent_version = software_version()
    if agent_version is not None:
        fields["agent_version"] = agent_version
    return fields


def minor_problem(minor: int) -> str | None:
    """Why a station speaking ``VERSION.minor`` is outside what central supports, or None.

    Supported: central's own minor and the one before it (a station one version behind during
    an upgrade). A newer station works (fields it adds are ignored) but is not supported.
    """
    if minor > PROTOCOL_MINOR:
        return (f"it speaks protocol {VERSION}.{minor}, newer than central's "
                f"{VERSION}.{PROTOCOL_MINOR}: upgrade central first")
    if minor < PROTOCOL_MINOR - 1:
        return (f"it speaks protocol {VERSION}.{minor}, more than one minor version behind "
                f"central's {VERSION}.{PROTOCOL_MINOR}: upgrade the station")
    return None


def check_fields(spec: Spec, body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProtocolError(f"{where}: not a map")
    for name, (kind, required) in spec.items():
        if name not in body:
            if required:
                raise ProtocolError(f"{where}.{name}: required")
            continue
        value = body[name]
        if isinstance(value, bool) and kind is int:
            raise ProtocolError(f"{where}.{name}: expected an integer")
        if not isinstance(value, kind):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ProtocolError(f"{where}.{name}: expected {names}, got "
                                f"{type(value).__name__}")
    return body


def _check_batch(body: dict[str, Any]) -> None:
    records = body["records"]
    if len(records) > MAX_BATCH_RECORDS:
        raise ProtocolError(f"batch.records: {len(records)} records, at most "
                            f"{MAX_BATCH_RECORDS}")
    for i, record in enumerate(records):
        check_fields(BATCH_RECORD, record, f"batch.records[{i}]")
        if record["kind"] not in UP_RECORD_KINDS:
            raise ProtocolError(f"batch.records[{i}].kind: unknown kind {record['kind']!r}")
        if record["seq"] < body["from"]:
            raise ProtocolError(f"batch.records[{i}].seq: below the batch's from")
    seqs = [r["seq"] for r in records]
    if seqs != sorted(set(seqs)):
        raise ProtocolError("batch.records: seq values must be increasing")


def _check_changes(body: dict[str, Any]) -> None:
    for i, record in enumerate(body["records"]):
        check_fields(CHANGE_RECORD, record, f"changes.records[{i}]")
        if record["kind"] not in FLEET_KINDS:
            raise ProtocolError(f"changes.records[{i}].kind: unknown kind {record['kind']!r}")


def _check_command(body: dict[str, Any]) -> None:
    if body["kind"] not in COMMAND_KINDS:
        raise ProtocolError(f"command.kind: must be one of {', '.join(COMMAND_KINDS)}")


EXTRA_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    BATCH: _check_batch,
    CHANGES: _check_changes,
    COMMAND: _check_command,
}


def decode_message(topic: str, payload: bytes) -> tuple[str, str, dict[str, Any]]:
    """Decode and check a msgpack message: (station of the topic, kind, body).

    Raises ProtocolError when the payload is malformed, oversized, of an unknown version, of
    a kind that does not belong on the topic, or names another station than its topic.
    """
    station, leaf = parse_station_topic(topic)
    expected = LEAF_KIND.get(leaf)
    if expected is None:
        raise ProtocolError(f"topic leaf {leaf!r} carries no msgpack message")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        kind, body, _version = decode(payload)
    except DecodeError as exc:
        raise ProtocolError(str(exc)) from None
    if kind != expected:
        raise ProtocolError(f"a {kind!r} message on a {expected!r} topic")
    check_fields(BODY_SPECS[kind], body, kind)
    if body["station"] != station:
        raise ProtocolError(f"{kind}.station {body['station']!r} does not match the topic's "
                            f"station {station!r}")
    extra = EXTRA_CHECKS.get(kind)
    if extra is not None:
        extra(body)
    return station, kind, body


def encode_message(kind: str, body: dict[str, Any]) -> bytes:
    check_fields(BODY_SPECS[kind], body, kind)
    return encode(kind, body)


# -- JSON status and heartbeat (readable without any Firefly code) --------------------------


def status_payload(station: str, state: str, at: str | None = None) -> bytes:
    body: dict[str, Any] = {"v": VERSION, "station": station, "state": state}
    if at is not None:
        body["at"] = at
    return json.dumps(body, sort_keys=True).encode()


def central_status_payload(worker: str, state: str, at: str | None = None) -> bytes:
    body: dict[str, Any] = {"v": VERSION, "worker": worker, "state": state}
    if at is not None:
        body["at"] = at
    return json.dumps(body, sort_keys=True).encode()


def decode_json(payload: bytes, required: tuple[str, ...]) -> dict[str, Any]:
    """A status or heartbeat payload: JSON object with ``v`` and the required fields."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    if body.get("v") != VERSION:
        raise ProtocolError(f"unsupported schema version {body.get('v')!r}")
    for name in required:
        if name not in body:
            raise ProtocolError(f"{name}: required")
    return body
