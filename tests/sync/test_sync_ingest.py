"""Central's ingest of a station's outbox, on SQLite and on PostgreSQL.

The records are a real station's outbox (made by its engine, see conftest.station_outbox),
ingested the way the worker does it (central.sync.ingest.ingest_batch).
"""

from __future__ import annotations

import datetime as dt
import time

from agent.core.codec import decode, encode
from agent.core.ids import HybridClock, format_hlc
from agent.core.models import (
    Alert,
    Process,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    utcnow,
)
from agent.core.module_models import Zone
from agent.modules.fleet import record_of
from agent.processes import save_process
from central.models import AuditLog, CentralCommand
from central.sync.ingest import ingest_batch, watermark_of
from central.sync.models import SyncDeadLetter
from tests.sync.conftest import StationOutbox
from tests.sync.sync_support import LOG_PROCESS

TOPIC = "firefly/v1/stations/st01/up/batch"
CLOCK = HybridClock("central")


def stored_executions() -> dict[str, tuple[str, int, int]]:
    return {e.uid: (e.status,
                    ProcessExecutionStep.select().where(
                        ProcessExecutionStep.execution == e.id).count(),
                    ProcessExecutionLog.select().where(
                        ProcessExecutionLog.execution == e.id).count())
            for e in ProcessExecution.select()}


def test_a_batch_delivered_twice_is_stored_once(central_db: str,
                                                station_outbox: StationOutbox) -> None:
    body = station_outbox.batch()
    last = station_outbox.rows[-1][0]
    first = ingest_batch("st01", body, TOPIC, CLOCK)
    assert (first.upto, first.duplicates, first.rejected) == (last, 0, 0)
    again = ingest_batch("st01", body, TOPIC, CLOCK)
    assert (again.upto, again.duplicates, again.stored) == (last, len(body["records"]), 0)
    # Every execution once, in its final state, with all its steps and log lines.
    assert stored_executions() == station_outbox.executions
    assert all(e.station_id == "st01" for e in ProcessExecution.select())
    assert Alert.select().count() == len(station_outbox.executions)
    assert SyncDeadLetter.select().count() == 0


def test_order_comes_from_seq_not_from_delivery(central_db: str,
                                                station_outbox: StationOutbox) -> None:
    rows = station_outbox.rows
    half = len(rows) // 2
    late = ingest_batch("st01", station_outbox.batch(rows[half:]), TOPIC, CLOCK)
    assert late.upto == 0  # stored, but not acknowledged past the gap
    early = ingest_batch("st01", station_outbox.batch(rows[:half]), TOPIC, CLOCK)
    assert early.upto == rows[-1][0]
    # Snapshots of one execution arrived newest first: the newest is kept.
    assert stored_executions() == station_outbox.executions


def test_a_station_cannot_write_another_stations_records(central_db: str,
                                                         station_outbox: StationOutbox) -> None:
    ingest_batch("st01", station_outbox.batch(), TOPIC, CLOCK)
    before = stored_executions()
    # st02 replays st01's records as its own (their station_id says st01) ...
    forged = {**station_outbox.batch(), "station": "st02"}
    result = ingest_batch("st02", forged, "firefly/v1/stations/st02/up/batch", CLOCK)
    assert result.stored == 0 and result.rejected == len(forged["records"])
    # ... or claims one of st01's execution uids for itself.
    _seq, _kind, uid, payload = next(r for r in station_outbox.rows if r[1] == "execution")
    _kind2, record, _v = decode(payload)
    hijack = {**record, "station_id": "st02", "status": "failed",
              "updated_at": (utcnow() + dt.timedelta(days=1)).isoformat()}
    result = ingest_batch("st02", {"station": "st02", "inc": "x", "from": 100, "records": [
        {"seq": 100, "kind": "execution", "uid": uid,
         "payload": encode("execution", hijack)}]}, "firefly/v1/stations/st02/up/batch", CLOCK)
    assert result.rejected == 1
    assert stored_executions() == before
    reasons = [d.reason for d in SyncDeadLetter.select().where(SyncDeadLetter.station_id == "st02")]
    assert any("'st01' is not the sending station 'st02'" in r for r in reasons)
    assert any("belongs to another station" in r for r in reasons)


def test_bad_records_are_dead_lettered_and_the_rest_is_stored(
        central_db: str, station_outbox: StationOutbox) -> None:
    rows = list(station_outbox.rows)
    top = rows[-1][0]
    good = next(r for r in rows if r[1] == "execution")
    _k, record, _v = decode(good[3])
    bad = [
        (top + 1, "execution", "junk", b"\xc1 not msgpack"),
        (top + 2, "execution", "boom", encode("execution", {**record, "uid": "boom",
                                                             "status": "exploded"})),
        (top + 3, "alert", "mixed", encode("execution", record)),
        (top + 4, "execution", "nul", encode("execution", {**record, "uid": "nul",
                                                            "error_message": "a\x00b"})),
        (top + 5, "execution", "huge", encode("execution", {**record, "uid": "huge",
                                                             "steps_completed": 2**40})),
        (top + 6, "execution", "utf8", encode("execution", {**record, "uid": "utf8",
                                                             "status": "completed"})
         .replace(b"\xa9completed", b"\xa9complete\xed")),  # a text that is not UTF-8
        (top + 7, "execution", "deep", encode("execution", {**record, "uid": "deep",
                                                             "trigger_event": "BOMB"})
         .replace(b"\xa4BOMB", b"\x91" * 100_000 + b"\x90")),  # nesting too deep to follow
        (top + 8, "execution", "keys", encode("execution", {**record, "uid": "keys",
                                                             "trigger_event": "KEYS"})
         .replace(b"\xa4KEYS", b"\x81\x91\x01\x01")),  # {[1]: 1}: a map keyed by a list
    ]
    result = ingest_batch("st01", station_outbox.batch(rows + bad), TOPIC, CLOCK)
    assert result.rejected == len(bad)
    assert result.upto == top + len(bad)  # rejected records never block the station
    assert stored_executions() == station_outbox.executions
    reasons = sorted(d.reason for d in SyncDeadLetter.select())
    for expected in ("not msgpack", "execution boom.status: Invalid enum value 'exploded'",
                     "payload of kind 'execution'",
                     "execution nul.error_message: NUL characters are not allowed",
                     "execution huge.steps_completed: Expected `int` <= 2147483647",
                     "seq 30 execution utf8: not msgpack: 'utf-8' codec can't decode",
                     "seq 31 execution deep: not msgpack: maximum recursion depth",
                     "seq 32 execution keys: execution keys: not storable as JSON"):
        assert any(expected in r for r in reasons), (expected, reasons)


AWKWARD = "tab\there\nnew line\r\\N back\\slash \\x41 'quote\" ünïcode ✓ 🚑"


def test_awkward_text_is_stored_exactly_as_sent(central_db: str,
                                                 station_outbox: StationOutbox) -> None:
    """Log lines, step results and errors come back byte for byte, whether the execution is
    new (PostgreSQL copies its lines in) or an update of a stored one (upserted)."""
    _seq, _kind, uid, payload = next(r for r in station_outbox.rows if r[1] == "execution")
    _k, record, _v = decode(payload)
    step = {**record["steps"][0], "result": {"text": AWKWARD, "n": None},
            "error_message": AWKWARD}
    logs = [{**record["logs"][0], "seq": i + 1, "message": f"{i}: {AWKWARD}",
             "step": None if i % 2 else 1} for i in range(3)]
    first = {**record, "status": "running", "error_message": None, "steps": [step],
             "logs": logs[:2]}
    later = {**first, "status": "failed", "error_message": AWKWARD, "logs": logs,
             "updated_at": (utcnow() + dt.timedelta(seconds=5)).isoformat()}
    for seq, version in ((1, first), (2, later)):
        result = ingest_batch("st01", {"station": "st01", "inc": "x", "from": seq, "records": [
            {"seq": seq, "kind": "execution", "uid": uid,
             "payload": encode("execution", version)}]}, TOPIC, CLOCK)
        assert (result.stored, result.rejected) == (1, 0)
        row = ProcessExecution.get(ProcessExecution.uid == uid)
        stored_logs = [(g.seq, g.message, g.step) for g in
                       ProcessExecutionLog.select().where(ProcessExecutionLog.execution == row.id)
                       .order_by(ProcessExecutionLog.seq)]
        assert stored_logs == [(g["seq"], g["message"], g["step"]) for g in version["logs"]]
    assert row.error_message == AWKWARD
    stored_step = ProcessExecutionStep.get(ProcessExecutionStep.execution == row.id)
    assert (stored_step.result, stored_step.error_message) == (step["result"], AWKWARD)


def test_empty_text_and_null_stay_apart(central_db: str,
                                        station_outbox: StationOutbox) -> None:
    """An empty text is stored as an empty text and a null as NULL, and texts that look like
    a NULL are texts, in new executions (which PostgreSQL copies in) as in updated ones."""
    _seq, _kind, uid, payload = next(r for r in station_outbox.rows if r[1] == "execution")
    _k, record, _v = decode(payload)
    step = {**record["steps"][0], "error_message": "", "result": None, "completed_at": None}
    line = {**record["logs"][0], "message": "", "step": None}
    said_none = {**record["logs"][0], "seq": 2, "message": "None", "level": "\\N"}
    first = {**record, "error_message": "", "triggered_by": None, "trigger_type": "",
             "total_steps": None, "steps": [step], "logs": [line, said_none]}
    later = {**first, "error_message": None, "triggered_by": "",
             "updated_at": (utcnow() + dt.timedelta(seconds=5)).isoformat(),
             "steps": [{**step, "error_message": None, "result": ""}]}
    for seq, version in ((1, first), (2, later)):
        ingest_batch("st01", {"station": "st01", "inc": "x", "from": seq, "records": [
            {"seq": seq, "kind": "execution", "uid": uid,
             "payload": encode("execution", version)}]}, TOPIC, CLOCK)
        row = ProcessExecution.get(ProcessExecution.uid == uid)
        assert (row.error_message, row.triggered_by, row.trigger_type, row.total_steps) == (
            version["error_message"], version["triggered_by"], "", None)
        stored = ProcessExecutionStep.get(ProcessExecutionStep.execution == row.id)
        assert (stored.error_message, stored.result, stored.completed_at) == (
            version["steps"][0]["error_message"], version["steps"][0]["result"], None)
        stored_lines = [(g.message, g.step, g.level) for g in ProcessExecutionLog.select().where(
            ProcessExecutionLog.execution == row.id).order_by(ProcessExecutionLog.seq)]
        assert stored_lines == [("", None, "info"), ("None", None, "\\N")]


def test_a_nul_character_is_refused_where_it_is(central_db: str,
                                                station_outbox: StationOutbox) -> None:
    _seq, _kind, _uid, payload = next(r for r in station_outbox.rows if r[1] == "execution")
    _k, record, _v = decode(payload)
    logs = [dict(line) for line in record["logs"]]
    logs[2]["message"] = "before\x00after"
    allowed = {**record, "uid": "json-nul", "trigger_event": {"text": "a\x00b"}}
    refused = {**record, "uid": "log-nul", "logs": logs}
    result = ingest_batch("st01", {"station": "st01", "inc": "n", "from": 1, "records": [
        {"seq": seq, "kind": "execution", "uid": version["uid"],
         "payload": encode("execution", version)}
        for seq, version in enumerate((allowed, refused), start=1)]}, TOPIC, CLOCK)
    assert (result.stored, result.rejected) == (1, 1)
    assert SyncDeadLetter.get().reason == (
        "seq 2 execution log-nul: execution log-nul.logs[2].message: NUL characters are not "
        "allowed")
    # JSON keeps a NUL as \u0000: the execution whose event held one is stored whole.
    stored = ProcessExecution.get(ProcessExecution.uid == "json-nul")
    assert stored.trigger_event == {"text": "a\x00b"}


def test_times_are_stored_as_the_utc_instant_they_name(central_db: str,
                                                       station_outbox: StationOutbox) -> None:
    """The stations' own form (naive UTC, with or without microseconds) and other RFC 3339
    forms (an offset, a Z, a space for the T) all come back as the same naive UTC datetime,
    so central sorts and filters them alike."""
    _seq, _kind, _uid, payload = next(r for r in station_outbox.rows if r[1] == "execution")
    _k, record, _v = decode(payload)
    given = {
        "2026-11-26T09:15:02.123456": dt.datetime(2026, 11, 26, 9, 15, 2, 123456),
        "2026-11-26T09:15:02": dt.datetime(2026, 11, 26, 9, 15, 2),
        "2026-11-26T11:15:02.5+02:00": dt.datetime(2026, 11, 26, 9, 15, 2, 500000),
        "2026-11-26T09:15:00Z": dt.datetime(2026, 11, 26, 9, 15),
        "2026-11-26 09:15:02.000001": dt.datetime(2026, 11, 26, 9, 15, 2, 1),
        "2026-11-26T11:15:02.1+0200": dt.datetime(2026, 11, 26, 9, 15, 2, 100000),  # 26 long
    }
    records = []
    for seq, text in enumerate(given, start=1):
        version = {**record, "uid": f"time-{seq}", "started_at": text, "updated_at": text,
                   "steps": [], "logs": [{**record["logs"][0], "at": text}]}
        records.append({"seq": seq, "kind": "execution", "uid": version["uid"],
                        "payload": encode("execution", version)})
    result = ingest_batch("st01", {"station": "st01", "inc": "t", "from": 1,
                                   "records": records}, TOPIC, CLOCK)
    assert (result.stored, result.rejected) == (len(given), 0)
    for seq, expected in enumerate(given.values(), start=1):
        row = ProcessExecution.get(ProcessExecution.uid == f"time-{seq}")
        line = ProcessExecutionLog.get(ProcessExecutionLog.execution == row.id)
        assert (row.started_at, row.updated_at, line.at) == (expected, expected, expected)
    ordered = [e.uid for e in ProcessExecution.select().where(
        ProcessExecution.uid.startswith("time-")).order_by(ProcessExecution.started_at,
                                                          ProcessExecution.uid)]
    assert ordered == ["time-4", "time-2", "time-5", "time-6", "time-1", "time-3"]
    # Times outside what central stores are refused with the reason, the rest kept.
    refused = {"1969-12-31T23:59:59": "time out of range",
               "1970-01-01T00:30:00+01:00": "time out of range",  # 1969 in UTC
               "9999-12-31T23:00:00-02:00": "time out of range",  # year 10000 in UTC
               "yesterday": "Invalid RFC3339 encoded datetime",
               "2026-11-26T09:15Z": "Invalid RFC3339 encoded datetime"}  # no seconds
    first = len(given) + 1
    records = [{"seq": seq, "kind": "execution", "uid": f"bad-time-{seq}",
                "payload": encode("execution", {**record, "uid": f"bad-time-{seq}",
                                                "started_at": text})}
               for seq, text in enumerate(refused, start=first)]
    result = ingest_batch("st01", {"station": "st01", "inc": "t", "from": first,
                                   "records": records}, TOPIC, CLOCK)
    assert (result.stored, result.rejected) == (0, len(refused))
    reasons = {d.reason for d in SyncDeadLetter.select()}
    assert reasons == {f"seq {seq} execution bad-time-{seq}: execution bad-time-{seq}"
                       f".started_at: {reason}"
                       for seq, reason in enumerate(refused.values(), start=first)}
    # A step's or a log line's time: the reason names the child.
    logs = [dict(line) for line in record["logs"]]
    logs[1]["at"] = "1969-12-31T23:59:59"
    steps = [{**record["steps"][0], "started_at": "yesterday"}]
    start = first + len(refused)
    for seq, (uid, version) in enumerate((("bad-log", {**record, "logs": logs}),
                                          ("bad-step", {**record, "steps": steps})),
                                         start=start):
        ingest_batch("st01", {"station": "st01", "inc": "t", "from": seq, "records": [
            {"seq": seq, "kind": "execution", "uid": uid,
             "payload": encode("execution", {**version, "uid": uid})}]}, TOPIC, CLOCK)
    assert {d.reason for d in SyncDeadLetter.select()} - reasons == {
        f"seq {start} execution bad-log: execution bad-log.logs[1].at: time out of range",
        f"seq {start + 1} execution bad-step: execution bad-step.steps[0].started_at: "
        "Invalid RFC3339 encoded datetime"}


def test_the_queued_execution_central_created_becomes_the_stations(
        central_db: str, station_outbox: StationOutbox) -> None:
    process = save_process({**LOG_PROCESS, "uid": station_outbox.process_uid,
                            "stations": ["st01"]}, origin="central", hlc=CLOCK.now())
    uid = next(u for s, k, u, p in station_outbox.rows if k == "execution")
    now = utcnow() + dt.timedelta(minutes=5)  # central's clock ahead of the station's
    queued = ProcessExecution.create(uid=uid, process_id=process.id,
                                     process_uid=process.uid, station_id="st01",
                                     status="queued", started_at=now, updated_at=now)
    ingest_batch("st01", station_outbox.batch(), TOPIC, CLOCK)
    row = ProcessExecution.get_by_id(queued.id)
    assert (row.uid, row.status, row.process_id) == (uid, station_outbox.executions[uid][0],
                                                     process.id)
    assert ProcessExecution.select().where(ProcessExecution.uid == uid).count() == 1


def test_executions_of_an_unknown_process_are_kept(central_db: str,
                                                   station_outbox: StationOutbox) -> None:
    executions = [r for r in station_outbox.rows if r[1] == "execution"]
    ingest_batch("st01", station_outbox.batch(executions), TOPIC, CLOCK)
    assert {e.process_id for e in ProcessExecution.select()} == {0}
    assert len(stored_executions()) == len(station_outbox.executions)


def test_command_results_update_the_command_and_its_execution(
        central_db: str, station_outbox: StationOutbox) -> None:
    expires = utcnow() + dt.timedelta(hours=1)
    ok = CentralCommand.create(station_id="st01", kind="pause", process_uid="p",
                               expires_at=expires, status="delivered")
    now = utcnow()
    queued = ProcessExecution.create(process_id=0, process_uid="p", station_id="st01",
                                     status="queued", started_at=now, updated_at=now)
    refused = CentralCommand.create(station_id="st01", kind="run", process_uid="p",
                                    execution_uid=queued.uid, expires_at=expires)
    other = CentralCommand.create(station_id="st02", kind="resume", process_uid="p",
                                  expires_at=expires)
    results = [(ok.uid, "done"), (refused.uid, "failed"), (other.uid, "done")]
    body = {"station": "st01", "inc": "inc-1", "from": 1, "records": [
        {"seq": i + 1, "kind": "command", "uid": uid,
         "payload": encode("command", {"uid": uid, "status": status, "detail": "no such"})}
        for i, (uid, status) in enumerate(results)]}
    result = ingest_batch("st01", body, TOPIC, CLOCK)
    assert result.rejected == 1  # st01 cannot answer st02's command
    statuses = {c.uid: c.status for c in CentralCommand.select()}
    assert statuses == {ok.uid: "done", refused.uid: "failed", other.uid: "pending"}
    assert ProcessExecution.get_by_id(queued.id).status == "failed"
    assert watermark_of("st01", "inc-1") == 3


def process_record(uid: str, hlc: str, name: str, stations: list[str] | None = None) \
        -> dict[str, object]:
    definition = {**LOG_PROCESS, "uid": uid, "name": name}
    return {"uid": uid, "hlc": hlc, "deleted": False, "origin": "st01", "version": 3,
            "stations": stations or ["st01"], "definition": definition}


def test_offline_edits_merge_last_writer_wins_and_the_loser_is_audited(central_db: str) -> None:
    ms = time.time_ns() // 1_000_000
    early_station_edit = format_hlc(ms - 2000, 0, "st01")  # offline, before central's edit
    central = save_process({**LOG_PROCESS, "name": "Central edit", "stations": ["*"]},
                           origin="central", hlc=format_hlc(ms - 1000, 0, "central"))
    late_station_edit = format_hlc(ms, 0, "st01")  # offline, after it
    records = [process_record(central.uid, early_station_edit, "Old field edit"),
               process_record(central.uid, late_station_edit, "New field edit", ["st01"])]
    body = {"station": "st01", "inc": "i", "from": 1, "records": [
        {"seq": i + 1, "kind": "process", "uid": central.uid,
         "payload": encode("process", r)} for i, r in enumerate(records)]}
    result = ingest_batch("st01", body, TOPIC, CLOCK)
    assert result.rejected == 0 and result.changed == [("process", central.uid)]
    merged = Process.get_by_id(central.id)
    # The later edit won; the station cannot change the assignment.
    assert (merged.name, merged.hlc, merged.origin, merged.stations) == \
        ("New field edit", late_station_edit, "st01", ["*"])
    trail = {a.action: a for a in AuditLog.select().where(AuditLog.entity_uid == central.uid)}
    assert trail["sync-conflict-lost"].before["definition"]["name"] == "Old field edit"
    assert trail["sync-merge"].before["definition"]["name"] == "Central edit"
    assert trail["sync-merge"].after["definition"]["name"] == "New field edit"


def test_a_station_cannot_edit_a_process_not_assigned_to_it(central_db: str) -> None:
    theirs = save_process({**LOG_PROCESS, "stations": ["st02"]}, origin="central",
                          hlc=CLOCK.now())
    edit = process_record(theirs.uid, HybridClock("st01").now(), "Hijacked")
    result = ingest_batch("st01", {"station": "st01", "inc": "i", "from": 1, "records": [
        {"seq": 1, "kind": "process", "uid": theirs.uid,
         "payload": encode("process", edit)}]}, TOPIC, CLOCK)
    assert result.rejected == 1
    assert Process.get_by_id(theirs.id).name == LOG_PROCESS["name"]
    assert "not assigned to station st01" in SyncDeadLetter.get().reason


def test_a_field_delete_and_a_field_zone_edit_merge_like_edits(central_db: str) -> None:
    ms = time.time_ns() // 1_000_000
    process = save_process({**LOG_PROCESS, "stations": ["st01"]}, origin="central",
                           hlc=format_hlc(ms - 5000, 0, "central"))
    zone = Zone.create(name="North", center_lat=46.5, center_lon=7.9, radius_m=300.0,
                       hlc=format_hlc(ms - 5000, 0, "central"), origin="central")
    tombstone = {**process_record(process.uid, format_hlc(ms, 0, "st01"), "x"),
                 "deleted": True, "definition": None}
    edited_zone = {**record_of(zone), "radius_m": 450.0, "hlc": format_hlc(ms, 0, "st01")}
    body = {"station": "st01", "inc": "i", "from": 1, "records": [
        {"seq": 1, "kind": "process", "uid": process.uid,
         "payload": encode("process", tombstone)},
        {"seq": 2, "kind": "zone", "uid": zone.uid, "payload": encode("zone", edited_zone)}]}
    result = ingest_batch("st01", body, TOPIC, CLOCK)
    assert sorted(result.changed) == sorted([("process", process.uid), ("zone", zone.uid)])
    assert Process.get_by_id(process.id).deleted
    stored = Zone.get_by_id(zone.id)
    assert (stored.radius_m, stored.origin) == (450.0, "st01")
    merged = {a.entity: a for a in AuditLog.select().where(AuditLog.action == "sync-merge")}
    assert merged["process"].before["definition"]["name"] == LOG_PROCESS["name"]
    assert merged["zone"].before["radius_m"] == 300.0
