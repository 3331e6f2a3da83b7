"""Upgrades: a station one protocol version behind keeps syncing with a newer central, and the
station's code takes what a newer central adds.

Up: the golden fixtures of every released protocol version (tests/sync/fixtures/protocol-v*/,
the exact bytes a station of that version sends; see make_fixtures.py) are published on a
station's topics with a plain paho client, to a real Mosquitto and a real central
(``firefly-central serve``, SQLite and PostgreSQL). Central must answer in the shapes that
version knows, store every record once and show the station.

Down: a real agent, against a plain paho client playing a newer central whose acks, changes,
change records and commands carry fields this version does not know.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from agent.core.codec import decode, encode
from agent.core.ids import HybridClock
from agent.core.models import (
    Alert,
    ProcessExecution,
    ProcessExecutionStep,
    database,
    utcnow,
)
from agent.sync import protocol
from central.db import open_central_database
from central.models import CentralCommand
from central.sync.ingest import ingest_batch
from central.sync.models import SyncDeadLetter, SyncStation
from tests.support import wait_until
from tests.sync.sync_support import (
    LOG_PROCESS,
    Field,
    Mosquitto,
    Raw,
    central_rows,
    prefill_station,
    sqlite_rows,
)

pytestmark = pytest.mark.broker

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERSIONS = sorted(FIXTURES.glob("protocol-v*"), key=lambda p: p.name)
CONVERGE = 60.0
TYPES: dict[str, type] = {t.__name__: t for t in (str, int, bool, list, dict, bytes, type(None))}


# -- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """One released protocol version's fixtures (see make_fixtures.py)."""

    path: Path
    spec: dict[str, Any]
    hello: bytes
    batch: bytes

    @classmethod
    def load(cls, path: Path) -> Fixture:
        return cls(path, json.loads((path / "spec.json").read_text(encoding="utf-8")),
                   (path / "hello.msgpack").read_bytes(), (path / "batch.msgpack").read_bytes())

    @property
    def station(self) -> str:
        return str(self.spec["station"])

    @property
    def minor(self) -> int:
        return int(str(self.spec["protocol"]).split(".")[1])

    def records(self) -> list[tuple[int, str, str, dict[str, Any]]]:
        """(seq, kind, uid, record) of the batch, decoded."""
        body = msgpack.unpackb(self.batch, raw=False)["b"]
        out = []
        for entry in body["records"]:
            kind, record, _version = decode(entry["payload"])
            assert kind == entry["kind"]
            out.append((entry["seq"], kind, entry["uid"], record))
        return out

    def satisfies(self, kind: str, body: Any) -> None:
        """``body`` has every field this version's receiver requires, of the types it knows."""
        spec = (self.spec["bodies"][kind] if kind in self.spec["bodies"]
                else self.spec[kind])
        assert isinstance(body, dict), f"{kind}: not a map"
        for name, rule in spec.items():
            if name not in body:
                assert not rule["required"], f"{kind}.{name}: missing for protocol " \
                                             f"{self.spec['protocol']}"
                continue
            value = body[name]
            allowed = tuple(TYPES[t] for t in rule["types"])
            assert isinstance(value, allowed) and not (
                isinstance(value, bool) and bool not in allowed), \
                f"{kind}.{name}: {type(value).__name__} is not {rule['types']}"


@dataclass
class Mailbox:
    """A raw client's messages, taken by topic leaf in arrival order (others wait)."""

    client: Raw
    pending: list[tuple[str, bytes]] = field(default_factory=list)

    def take(self, leaf: str, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            for i, (topic, payload) in enumerate(self.pending):
                if topic.endswith(leaf):
                    del self.pending[i]
                    return payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no message on .../{leaf} within {timeout} s; had "
                                     f"{[t for t, _ in self.pending]}")
            try:
                self.pending.append(self.client.messages.get(timeout=remaining))
            except queue.Empty:
                continue


def central_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    base = request.getfixturevalue("pg_database")
    return f"{base}?schema=compat_{secrets.token_hex(4)}"


def queue_central_command(url: str, station: str, record: dict[str, Any]) -> None:
    """The command at central whose result the fixture's station reports (same uid)."""
    db = open_central_database(url)
    try:
        with db.connection_context():
            CentralCommand.create(uid=record["uid"], station_id=station, kind=record["kind"],
                                  process_uid=record["process_uid"], payload={},
                                  status="pending", expires_at=utcnow() + dt.timedelta(days=1))
    finally:
        db.close_all()  # type: ignore[attr-defined]


# -- an older station, a newer central ---------------------------------------------------------


def test_every_released_protocol_version_keeps_its_fixtures() -> None:
    names = [p.name for p in VERSIONS]
    assert "protocol-v1.0" in names, names
    for path in VERSIONS:
        fixture = Fixture.load(path)
        assert path.name == f"protocol-v{fixture.spec['protocol']}"
        assert fixture.minor <= protocol.PROTOCOL_MINOR
        _station, kind, body = protocol.decode_message(
            protocol.up_topic(fixture.station, protocol.HELLO), fixture.hello)
        fixture.satisfies(kind, body)
        # A station of this version sends no field added after it.
        later = {f for f, minor in protocol.ADDED_IN.get(protocol.HELLO, {}).items()
                 if minor > fixture.minor}
        assert not later & set(body), (path.name, sorted(later & set(body)))
        _station, kind, batch = protocol.decode_message(
            protocol.up_topic(fixture.station, protocol.BATCH), fixture.batch)
        fixture.satisfies(kind, batch)
        for entry in batch["records"]:
            fixture.satisfies("batch_record", entry)
        kinds = {k for _s, k, _u, _r in fixture.records()}
        assert kinds >= {"execution", "alert", "notification", "command", "process"}, kinds
        assert sorted(kinds) == fixture.spec["record_kinds"]


def test_central_supports_its_minor_and_the_one_before() -> None:
    current = protocol.PROTOCOL_MINOR
    assert protocol.minor_problem(current) is None
    assert protocol.minor_problem(current - 1) is None
    assert "upgrade central first" in str(protocol.minor_problem(current + 1))
    if current >= 2:
        assert "upgrade the station" in str(protocol.minor_problem(current - 2))
    # The hello of this version says what it runs; every field it adds is optional.
    assert protocol.hello_versions()["protocol_minor"] == current
    for kind, fields in protocol.ADDED_IN.items():
        assert all(not protocol.BODY_SPECS[kind][name][1] for name in fields), kind


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
@pytest.mark.parametrize("version", VERSIONS, ids=[p.name for p in VERSIONS])
def test_an_older_station_keeps_syncing_with_this_central(
        version: Path, database: str, tmp_path: Path, broker: Mosquitto, raw: Callable[[str], Raw],
        request: pytest.FixtureRequest) -> None:
    fixture = Fixture.load(version)
    station = fixture.station
    records = fixture.records()
    [command] = [r for _s, k, _u, r in records if k == "command"]
    url = central_url(database, tmp_path, request)
    queue_central_command(url, station, command)
    central = Field(tmp_path, broker, station, url)
    central.start_central()
    try:
        client = raw(station)
        client.subscribe(protocol.station_topic(station, "down/#"))
        client.subscribe(f"{protocol.CENTRAL_STATUS}/+")
        mail = Mailbox(client)
        assert json.loads(mail.take("central/status/central-1"))["state"] == "online"

        def down(kind: str) -> dict[str, Any]:
            """The next message of ``kind`` from central: the kind this version expects, a
            version it supports, a body that satisfies its spec."""
            got, body, v = decode(mail.take(protocol.DOWN[kind]))
            assert (got, v) == (kind, 1)
            fixture.satisfies(kind, body)
            assert body["station"] == station
            return body

        # The exact bytes of a station of that version: its hello, then its batch.
        client.publish(protocol.up_topic(station, protocol.HELLO), fixture.hello)
        hello = msgpack.unpackb(fixture.hello, raw=False)["b"]
        inc = hello["inc"]
        hello_ack = down(protocol.ACK)
        assert (hello_ack["inc"], hello_ack["upto"], hello_ack["last"]) == (inc, 0, 0)
        delivered = down(protocol.COMMAND)
        assert delivered["uid"] == command["uid"]
        last = records[-1][0]
        client.publish(protocol.up_topic(station, protocol.BATCH), fixture.batch)
        ack = down(protocol.ACK)
        assert (ack["inc"], ack["upto"], ack["last"]) == (inc, last, last)
        # The process the station edited comes back in the definition feed, in that
        # version's change-record shape.
        process_uid = next(u for _s, k, u, _r in records if k == "process")
        changes = down(protocol.CHANGES)
        for record in changes["records"]:
            fixture.satisfies("change_record", record)
        assert process_uid in {r["uid"] for r in changes["records"]}
        # A re-delivery (a lost ack) changes nothing.
        client.publish(protocol.up_topic(station, protocol.BATCH), fixture.batch)
        again = down(protocol.ACK)
        assert (again["upto"], again["last"]) == (last, last)

        assert_stored_once(url, station, records)
        assert central_rows(url, "SELECT reason FROM sync_dead_letters") == []
        assert central_rows(url, "SELECT status FROM central_commands WHERE uid = ?",
                            command["uid"]) == [("done",)]
        listed = {s["id"]: s for s in central.api("GET", "/api/stations")["stations"]}
        view = listed[station]
        assert view["agent_version"] == hello.get("agent_version")  # 1.0: not reported (None)
        assert view["protocol_version"] == fixture.spec["protocol"]
        assert view["dead_letters"] == 0 and view["online"] is True
        detail = central.api("GET", f"/api/stations/{station}")
        assert detail["records_ingested"] == len(records)
        assert detail["recent_dead_letters"] == []
        # The station is upgraded: its hello now says which agent and protocol it runs.
        upgraded = {"station": station, "inc": inc, "acked": last, "feed": changes["upto"],
                    "want_changes": False, **protocol.hello_versions()}
        client.publish(protocol.up_topic(station, protocol.HELLO),
                       protocol.encode_message(protocol.HELLO, upgraded))
        assert down(protocol.ACK)["upto"] == last
        view = central.api("GET", f"/api/stations/{station}")
        assert protocol.software_version() is not None  # the package is installed
        assert view["agent_version"] == protocol.software_version()
        assert view["protocol_version"] == f"{protocol.VERSION}.{protocol.PROTOCOL_MINOR}"
        assert central.central is not None
        reported = hello.get("agent_version") or "(version not reported)"
        assert f"station {station} runs agent {reported}, protocol {fixture.spec['protocol']}" \
            in central.central.output()
        assert central.central.alive(), central.logs()
    finally:
        central.stop_all()


def assert_stored_once(url: str, station: str,
                       records: list[tuple[int, str, str, dict[str, Any]]]) -> None:
    """Every record of the batch is at central once, executions with all their steps and
    log lines (as the station's last snapshot of each has them)."""
    final: dict[tuple[str, str], dict[str, Any]] = {}
    for _seq, kind, uid, record in records:
        final[(kind, uid)] = record  # later snapshots replace earlier ones
    tables = {"execution": "process_executions", "alert": "alerts",
              "notification": "notifications", "process": "processes", "user": "users",
              "group": "groups", "command": "central_commands"}
    for (kind, uid), record in final.items():
        rows = central_rows(url, f"SELECT id FROM {tables[kind]} WHERE uid = ?", uid)
        assert len(rows) == 1, (kind, uid, rows)
        if kind == "execution":
            [(execution_id,)] = rows
            steps = central_rows(url, "SELECT COUNT(*) FROM process_execution_steps "
                                      "WHERE execution_id = ?", execution_id)[0][0]
            logs = central_rows(url, "SELECT COUNT(*) FROM process_execution_logs "
                                     "WHERE execution_id = ?", execution_id)[0][0]
            assert (steps, logs) == (len(record["steps"]), len(record["logs"])), uid
            assert record["steps"] and record["logs"]
    executions = central_rows(url, "SELECT COUNT(*) FROM process_executions "
                                   "WHERE station_id = ?", station)[0][0]
    assert executions == sum(1 for kind, _uid in final if kind == "execution")


# -- what central tolerates, in process ---------------------------------------------------------

LATER = {"added_in_a_later_minor": {"any": ["shape"]}, "zz_future": 7}


def test_central_ignores_unknown_fields_and_defaults_missing_ones(central_db: str) -> None:
    """A record from another minor version: fields central does not know (a newer station)
    are ignored; columns the station did not send (added after its version) get the model's
    default. Nothing is refused."""
    fixture = Fixture.load(FIXTURES / "protocol-v1.0")
    station = fixture.station
    entries = []
    for seq, kind, uid, record in fixture.records():
        record = {**record, **LATER}
        if kind == "execution":
            record.pop("trigger_type", None)  # nullable
            record.pop("process_version", None)  # default 1
            record["steps"] = [{k: v for k, v in {**step, **LATER}.items()
                                if k != "action_type"} for step in record["steps"]]
            record["logs"] = [{**line, **LATER} for line in record["logs"]]
        if kind == "alert":
            record.pop("zone", None)
            record.pop("message", None)  # default ""
        entries.append({"seq": seq, "kind": kind, "uid": uid, "payload": encode(kind, record),
                        **LATER})
    [command] = [r for _s, k, _u, r in fixture.records() if k == "command"]
    CentralCommand.create(uid=command["uid"], station_id=station, kind=command["kind"],
                          process_uid=command["process_uid"], payload={},
                          expires_at=utcnow() + dt.timedelta(days=1))
    payload = protocol.encode_message(protocol.BATCH, {
        "station": station, "inc": "inc-later", "from": entries[0]["seq"], "records": entries,
        **LATER})
    topic = protocol.up_topic(station, protocol.BATCH)
    _station, _kind, body = protocol.decode_message(topic, payload)
    result = ingest_batch(station, body, topic, HybridClock("central"))
    assert [d.reason for d in SyncDeadLetter.select()] == []
    assert result.rejected == 0 and result.upto == entries[-1]["seq"]
    executions = list(ProcessExecution.select())
    assert executions and {(e.trigger_type, e.process_version) for e in executions} == {(None, 1)}
    assert {s.action_type for s in ProcessExecutionStep.select()} == {""}
    alerts = list(Alert.select())
    assert alerts and {(a.zone, a.message) for a in alerts} == {(None, "")}


def test_the_migrations_give_sync_stations_every_model_column(central_db: str) -> None:
    schema = central_db.partition("?schema=")[2] or None
    columns = {c.name for c in database.get_columns("sync_stations", schema=schema)}
    assert columns == {f.column_name for f in SyncStation._meta.sorted_fields}


# -- a newer central, this station ------------------------------------------------------------

NEWER = {"sent_by_central": "9.9.9", "hints": {"compression": None, "page_size": 100}}


def test_the_station_takes_what_a_newer_central_adds(tmp_path: Path, broker: Mosquitto,
                                                     raw: Callable[[str], Raw]) -> None:
    """Acks, changes, change records, fleet records and commands with fields this version
    does not know are applied; a process using an action type it does not know is kept as
    a dead letter and the rest of the page is applied."""
    station = "st-newer"
    field_ = Field(tmp_path, broker, station, "sqlite:///not-used")
    prefill_station(field_.db, station, 3)
    central = raw("central")
    central.subscribe(f"{protocol.STATIONS}/{station}/up/#")
    mail = Mailbox(central)
    status = json.loads(protocol.central_status_payload("central-9", "online",
                                                        utcnow().isoformat()))
    central.publish(protocol.central_status_topic("central-9"),
                    json.dumps({**status, **NEWER}).encode(), retain=True)

    def send(kind: str, body: dict[str, Any]) -> None:
        central.publish(protocol.down_topic(station, kind), encode(kind, {**body, **NEWER}))

    def up(kind: str) -> dict[str, Any]:
        topic = protocol.up_topic(station, kind)
        _station, got, body = protocol.decode_message(topic, mail.take(protocol.UP[kind]))
        assert got == kind
        return body

    field_.start_agent()
    try:
        hello = up(protocol.HELLO)
        # This version's hello says what it runs.
        assert hello["protocol_minor"] == protocol.PROTOCOL_MINOR
        assert hello["agent_version"] == protocol.software_version()
        assert hello["agent_version"] is not None
        inc = hello["inc"]
        send(protocol.ACK, {"station": station, "inc": inc, "upto": 0, "last": 0})
        kinds: list[str] = []
        while field_.outbox_depth() > 0 or "process" not in kinds:
            batch = up(protocol.BATCH)
            kinds += [r["kind"] for r in batch["records"]]
            last = batch["records"][-1]["seq"]
            send(protocol.ACK, {"station": station, "inc": inc, "upto": last, "last": last})
            wait_until(lambda: field_.outbox_depth() == 0 or not mail.client.messages.empty(),
                       timeout=CONVERGE, message=f"the ack to release the outbox\n{field_.logs()}")
        assert kinds.count("execution") == 3

        clock = HybridClock("central")
        valid = newer_process(clock, station, "From a newer central", "log")
        unknown = newer_process(clock, station, "Needs a newer agent", "teleport")
        zone = {"kind": "zone", "uid": "zone-newer", "hlc": clock.now(), "deleted": False,
                "record": {"name": "Ford", "center_lat": 46.5, "center_lon": 7.9,
                           "radius_m": 50.0, **NEWER}, **NEWER}
        send(protocol.CHANGES, {"station": station, "since": 0, "upto": 3, "more": False,
                                "records": [valid, unknown, zone]})
        assert up(protocol.HELLO)["feed"] == 3  # applied, and said so

        processes = field_.station_processes()
        assert processes[valid["uid"]] == ("From a newer central", True, False)
        assert unknown["uid"] not in processes
        assert sqlite_rows(field_.db, "SELECT name FROM zones WHERE uid = 'zone-newer'") == \
            [("Ford",)]
        [(reason,)] = sqlite_rows(field_.db, "SELECT reason FROM sync_dead_letters")
        assert unknown["uid"] in reason and "action_type" in reason

        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        send(protocol.COMMAND, {"station": station, "uid": "cmd-from-newer", "kind": "pause",
                                "process_uid": valid["uid"], "execution_uid": None,
                                "payload": {"triggered_by": "alice", **NEWER},
                                "expires_at": expires})
        result = up(protocol.BATCH)["records"]
        assert [r["kind"] for r in result] == ["command"]
        _kind, record, _v = decode(result[0]["payload"])
        assert (record["uid"], record["status"]) == ("cmd-from-newer", "done")
        assert field_.agent is not None and field_.agent.alive()
        assert "Traceback" not in field_.agent.output()
    finally:
        field_.stop_all()
        central.publish(protocol.central_status_topic("central-9"), b"", retain=True)


def newer_process(clock: HybridClock, station: str, name: str, action: str) -> dict[str, Any]:
    """A change record of a process, as a newer central might send it."""
    at = clock.now()
    uid = f"p-{secrets.token_hex(4)}"
    definition = {**LOG_PROCESS, "name": name,
                  "actions": [{"action_type": action, "action_config": {"message": "hi"}}]}
    return {"kind": "process", "uid": uid, "hlc": at, "deleted": False, **NEWER,
            "record": {"uid": uid, "hlc": at, "deleted": False, "origin": "central",
                       "version": 2, "updated_at": utcnow().isoformat(),
                       "stations": [station], "definition": definition,
                       "labels": ["river"], **NEWER}}
