"""The station's side, in process on a real station database: applying central's changes,
releasing acknowledged outbox rows, queueing field edits, carrying out commands."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.codec import decode, encode
from agent.core.db import migrate
from agent.core.ids import HybridClock, format_hlc
from agent.core.models import (
    Outbox,
    Process,
    ProcessExecution,
    ProcessTemplate,
    database,
    utcnow,
)
from agent.core.module_models import Zone
from agent.engine.engine import Engine
from agent.processes import save_process
from agent.sync import outbox
from agent.sync.apply import apply_changes
from agent.sync.commands import CommandHandler
from agent.sync.models import HISTORY_TABLE, MIGRATIONS, SyncCommand, SyncDeadLetter
from agent.sync.records import process_record
from tests.support import wait_until
from tests.sync.sync_support import LOG_PROCESS

STATION = "st01"


@pytest.fixture
def synced_db(station_db: Path) -> Iterator[Path]:
    migrate(database.obj, [(MIGRATIONS, HISTORY_TABLE)])
    yield station_db


def hlc(offset_ms: int = 0, node: str = "central") -> str:
    return format_hlc(time.time_ns() // 1_000_000 + offset_ms, 0, node)


def central_process(name: str, stations: list[str], at: str) -> dict[str, Any]:
    with database.atomic() as tx:  # a process as central would hold it, never stored here
        process = save_process({**LOG_PROCESS, "name": name, "stations": stations},
                               origin="central", hlc=at)
        record = {"kind": "process", "uid": process.uid, "hlc": at, "deleted": False,
                  "record": process_record(process)}
        tx.rollback()
    return record


def changes(records: list[dict[str, Any]], since: int, upto: int) -> dict[str, Any]:
    return {"station": STATION, "since": since, "upto": upto, "more": False,
            "records": records}


def test_central_changes_apply_by_assignment_and_last_writer(synced_db: Path) -> None:
    ours = central_process("Ours", [STATION], hlc())
    theirs = central_process("Theirs", ["st02"], hlc())
    broken = central_process("Broken", ["*"], hlc())
    broken["record"]["definition"]["actions"][0]["action_type"] = "no_such_action"
    zone = {"kind": "zone", "uid": "zone-1", "hlc": hlc(), "deleted": False,
            "record": {"name": "North", "center_lat": 46.5, "center_lon": 7.9,
                       "radius_m": 300.0}}
    template = {"kind": "template", "uid": "tpl-1", "hlc": hlc(), "deleted": False,
                "record": {"name": "Evacuation", "template_data": {"a": 1}}}
    clock = HybridClock(STATION)
    result = apply_changes(changes([ours, theirs, broken, zone, template], 0, 7), STATION,
                           clock, "t")
    assert (result.applied, result.rejected) == (3, 1)
    assert result.processes == [ours["uid"]]
    assert [p.name for p in Process.select()] == ["Ours"]
    assert Zone.get(Zone.uid == "zone-1").name == "North"
    assert ProcessTemplate.get(ProcessTemplate.uid == "tpl-1").template_data == {"a": 1}
    assert f"process {broken['uid']}: actions[0].action_type: must be one of" in \
        SyncDeadLetter.get().reason
    assert outbox.get_value(outbox.KEY_FEED) == 7
    # The station's clock moved past central's, so its later edits win.
    assert clock.now() > ours["hlc"]

    # An older version changes nothing; a newer one taking the process away leaves a tombstone.
    stale = {**ours, "hlc": hlc(-60_000), "record": {**ours["record"], "definition": {
        **ours["record"]["definition"], "name": "Stale"}}}
    moved = {**ours, "hlc": hlc(1000), "record": {**ours["record"], "stations": ["st02"]}}
    result = apply_changes(changes([stale, moved], 3, 9), STATION, clock, "t")
    process = Process.get(Process.uid == ours["uid"])
    assert (process.name, process.deleted) == ("Ours", True)
    # A replayed old page never lowers the watermark.
    apply_changes(changes([], 0, 2), STATION, clock, "t")
    assert outbox.get_value(outbox.KEY_FEED) == 9


def add_rows(count: int) -> list[int]:
    return [Outbox.create(kind="alert", uid=f"a{i}", payload=encode("alert", {"n": i})).seq
            for i in range(count)]


def test_acknowledged_rows_are_released_and_seq_never_restarts(synced_db: Path) -> None:
    state = outbox.load_state()
    assert state.acked == 0 and state.incarnation
    seqs = add_rows(5)
    assert outbox.depth(0) == 5
    assert outbox.release("another-incarnation", 5) == 0  # not ours: ignored
    assert outbox.release(state.incarnation, 3) == 3
    assert outbox.depth(3) == 2
    assert [r["seq"] for r in outbox.read_batch(3, 10)] == seqs[3:]
    assert outbox.release(state.incarnation, 99) == seqs[-1]  # never above what exists
    assert outbox.depth(seqs[-1]) == 0
    # Everything was acknowledged, yet a new record continues the sequence.
    (new,) = add_rows(1)
    assert new == seqs[-1] + 1
    assert outbox.load_state().incarnation == state.incarnation
    # Were rows removed behind the sync's back, a new incarnation starts.
    Outbox.delete().execute()
    fresh = outbox.load_state()
    assert fresh.incarnation != state.incarnation and fresh.acked == 0


def test_field_edits_are_queued_once(synced_db: Path) -> None:
    clock = HybridClock(STATION)
    save_process({**LOG_PROCESS, "name": "From central"}, origin="central", hlc=clock.now())
    edited = save_process({**LOG_PROCESS, "name": "Field edit"}, origin=STATION,
                          hlc=clock.now())
    assert outbox.queue_local_edits(STATION) == 1
    assert outbox.queue_local_edits(STATION) == 0
    (row,) = Outbox.select().where(Outbox.kind == "process")
    kind, record, _version = decode(row.payload)
    assert (kind, record["uid"], record["definition"]["name"]) == ("process", edited.uid,
                                                                   "Field edit")


def command(kind: str, process_uid: str, **extra: Any) -> dict[str, Any]:
    expires = (utcnow() + dt.timedelta(hours=1)).isoformat()
    return {"station": STATION, "uid": f"c-{kind}-{time.time_ns()}", "kind": kind,
            "process_uid": process_uid, "expires_at": expires, **extra}


def test_commands_are_carried_out_once(synced_db: Path,
                                       engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory(station_id=STATION)
    process = save_process({**LOG_PROCESS, "name": "Evac"}, origin="central", hlc="x")
    engine.call(lambda: engine.reload()).result(10)
    handler = CommandHandler(engine)

    def handle(body: dict[str, Any]) -> Any:
        return engine.call(lambda: handler.handle(body)).result(10)

    run = command("run", process.uid, execution_uid="central-made-uid",
                  payload={"trigger_data": {"who": "ops"}})
    assert handle(run) == "running"
    assert handle(run) is None  # re-delivered while it starts: not run twice
    wait_until(lambda: SyncCommand.select().where(SyncCommand.uid == run["uid"]).exists(),
               timeout=10)
    execution = ProcessExecution.get(ProcessExecution.uid == "central-made-uid")
    assert execution.trigger_event["data"] == {"who": "ops"}
    assert handle(run) is None  # replayed later: still once
    assert ProcessExecution.select().where(ProcessExecution.uid == "central-made-uid") \
        .count() == 1

    assert handle(command("pause", process.uid)) == "done"
    assert Process.get_by_id(process.id).paused
    assert handle(command("resume", process.uid)) == "done"
    assert not Process.get_by_id(process.id).paused
    late = command("run", process.uid,
                   expires_at=(utcnow() - dt.timedelta(seconds=1)).isoformat())
    assert handle(late) == "expired"
    assert handle(command("pause", "no-such-process")) == "failed"
    results = {decode(r.payload)[1]["uid"]: decode(r.payload)[1]["status"]
               for r in Outbox.select().where(Outbox.kind == "command")}
    assert results[run["uid"]] == "done" and results[late["uid"]] == "expired"
