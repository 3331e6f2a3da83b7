"""PostgreSQL: new executions, their steps and log lines are copied in, the steps and lines
without their foreign-key checks (their parents were inserted by the same transaction), and
nothing else about the constraints changes: orphans are still refused, deletes still cascade,
a database role that may not skip the checks ingests the same records with the checks on,
and a copy that meets a row stored meanwhile falls back to the upsert."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from peewee import IntegrityError

from agent.core.models import ProcessExecution, ProcessExecutionLog, ProcessExecutionStep, database
from central.sync import bulk, upserts
from central.sync.ingest import ingest_batch
from tests.sync.conftest import StationOutbox
from tests.sync.sync_support import PG_URL
from tests.sync.test_sync_ingest import CLOCK, TOPIC, stored_executions

ORPHAN = {"execution": 2_000_000_000, "seq": 1, "at": dt.datetime(2026, 11, 26),
          "level": "info", "step": None, "message": "no such execution"}


@pytest.fixture
def pg_central(pg_database: str) -> Iterator[str]:
    """Central's database in a schema of its own, bound here; the check's answer forgotten."""
    from central.db import open_central_database

    bulk._may_skip_reference_checks = None
    db = open_central_database(f"{pg_database}?schema=t_{secrets.token_hex(4)}")
    db.connect(reuse_if_open=True)
    yield pg_database
    db.close()
    bulk._may_skip_reference_checks = None


def assert_references_hold() -> None:
    """The foreign keys are in force: an orphan is refused; a deleted execution takes its
    steps and log lines with it."""
    with pytest.raises(IntegrityError), database.atomic():
        ProcessExecutionLog.insert(**ORPHAN).execute()
    victim = ProcessExecution.select().order_by(ProcessExecution.id).first()
    assert ProcessExecutionLog.select().where(ProcessExecutionLog.execution == victim.id).count()
    ProcessExecution.delete_by_id(victim.id)
    assert not ProcessExecutionLog.select().where(
        ProcessExecutionLog.execution == victim.id).count()
    assert not ProcessExecutionStep.select().where(
        ProcessExecutionStep.execution == victim.id).count()


def test_ingest_skips_only_checks_that_cannot_fail(pg_central: str,
                                                   station_outbox: StationOutbox) -> None:
    result = ingest_batch("st01", station_outbox.batch(), TOPIC, CLOCK)
    assert result.rejected == 0
    assert stored_executions() == station_outbox.executions
    assert bulk._may_skip_reference_checks is True  # the test role is a superuser
    # Inside the block the checks are off (else the speed-up silently disappears) ...
    with database.atomic() as transaction:
        with bulk.parents_just_inserted():
            bulk.copy_rows(ProcessExecutionLog, list(ORPHAN), [list(ORPHAN.values())])
        transaction.rollback()
    # ... and after it, and for everything else, they hold.
    assert database.execute_sql("SHOW session_replication_role").fetchone() == ("origin",)
    assert_references_hold()


def test_a_failure_in_the_block_rolls_the_checks_back_on(pg_central: str) -> None:
    """The ingest retries a refused batch record by record in savepoints: the rollback of the
    failed attempt must turn the checks back on for what follows."""
    with database.atomic():
        with pytest.raises(ValueError), database.atomic(), bulk.parents_just_inserted():
            bulk.copy_rows(ProcessExecutionLog, list(ORPHAN), [list(ORPHAN.values())])
            raise ValueError("the attempt fails after writing")
        assert database.execute_sql("SHOW session_replication_role").fetchone() == ("origin",)
        with pytest.raises(IntegrityError), database.atomic():
            ProcessExecutionLog.insert(**ORPHAN).execute()


def test_the_tables_copied_without_checks_have_no_triggers_of_their_own(
        pg_central: str) -> None:
    """session_replication_role = replica silences every trigger of the tables written in
    the block, not only the foreign-key checks: a trigger added to them later would be
    skipped for new rows. Such a trigger needs parents_just_inserted reconsidered."""
    tables = [ProcessExecutionStep._meta.table_name, ProcessExecutionLog._meta.table_name]
    triggers = database.execute_sql(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s)", (tables,)).fetchall()
    assert triggers == []


@pytest.fixture(params=["plain role", "role granted SET"])
def role_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    """A database owned by a role that is not a superuser (as deploy/install-central makes
    it), with or without the grant; (url, whether the checks may be skipped)."""
    role = f"ff_role_{secrets.token_hex(3)}"
    name = f"ff_roledb_{secrets.token_hex(3)}"
    admin = psycopg2.connect(PG_URL, connect_timeout=5)
    admin.autocommit = True
    granted = request.param == "role granted SET"
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"CREATE DATABASE {name} OWNER {role}")
        if granted:
            cur.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role}")
    base = PG_URL.rsplit("/", 1)[0].replace("://postgres@", f"://{role}@")
    try:
        yield f"{base}/{name}", granted
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            if granted:
                cur.execute(f"REVOKE SET ON PARAMETER session_replication_role FROM {role}")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def test_a_role_that_may_not_skip_the_checks_ingests_with_them(
        role_database: tuple[str, bool], station_outbox: StationOutbox) -> None:
    from central.db import open_central_database

    url, granted = role_database
    bulk._may_skip_reference_checks = None
    db = open_central_database(url)
    db.connect(reuse_if_open=True)
    try:
        result = ingest_batch("st01", station_outbox.batch(), TOPIC, CLOCK)
        assert (result.stored, result.rejected) == (len(station_outbox.rows), 0)
        assert stored_executions() == station_outbox.executions
        assert bulk._may_skip_reference_checks is granted
        assert_references_hold()
    finally:
        db.close()
        bulk._may_skip_reference_checks = None


def test_a_copy_that_meets_a_row_stored_meanwhile_falls_back_to_the_upsert(
        pg_central: str, station_outbox: StationOutbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """New executions are copied in after one query found them not stored; should another
    worker store one in between (a forged or repeated uid), the copy fails, and the batch is
    stored record by record through the upsert: nothing doubled, nothing lost."""
    first = ingest_batch("st01", station_outbox.batch(), TOPIC, CLOCK)
    assert first.rejected == 0
    look_up, calls = upserts._look_up, []

    def stored_meanwhile(records: list[Any]) -> Any:
        known = look_up(records)
        if not calls:  # the batch's first look: as if just before the other's commit
            known.stored.clear()
        calls.append(len(records))
        return known

    monkeypatch.setattr(upserts, "_look_up", stored_meanwhile)
    again = ingest_batch("st01", station_outbox.batch(inc="inc-2"), TOPIC, CLOCK)
    # Every execution written again (its alerts were already there: not newer, not counted).
    assert (again.stored, again.rejected) == (len(station_outbox.executions), 0)
    assert calls[0] > 1 and set(calls[1:]) == {1}  # the batch, then record by record
    assert stored_executions() == station_outbox.executions
    assert ProcessExecutionLog.select().count() == sum(
        logs for _status, _steps, logs in station_outbox.executions.values())
