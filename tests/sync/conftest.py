"""Sync fixtures: one real Mosquitto for the session (project ACL, password per user)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.sync.sync_support import (
    LOG_PROCESS,
    MOSQUITTO,
    PG_URL,
    Mosquitto,
    Raw,
    postgres_database,
    prefill_station,
    sqlite_rows,
)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """The session's broker; tests that stop or kill it leave it running again."""
    if shutil.which(MOSQUITTO) is None:
        pytest.fail(f"{MOSQUITTO} not found: apt-get install mosquitto")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.add_user("central", "monitor")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Iterator[Mosquitto]:
    """The session's broker, running and emptied of retained messages and sessions."""
    mosquitto.reset()
    yield mosquitto
    mosquitto.ensure_running()


@dataclass(frozen=True)
class StationOutbox:
    """A real station's outbox (made by its engine), as (seq, kind, uid, payload) rows."""

    station: str
    process_uid: str
    rows: list[tuple[int, str, str, bytes]]
    executions: dict[str, tuple[str, int, int]]  # uid -> (status, steps, logs) at the station

    def batch(self, rows: list[tuple[int, str, str, bytes]] | None = None,
              inc: str = "inc-1", start: int | None = None) -> dict[str, Any]:
        chosen = self.rows if rows is None else rows
        first = chosen[0][0] if start is None else start
        return {"station": self.station, "inc": inc, "from": first, "records": [
            {"seq": s, "kind": k, "uid": u, "payload": p} for s, k, u, p in chosen]}


ALERTING_PROCESS: dict[str, Any] = {
    **LOG_PROCESS,
    "name": "Water level",
    "actions": [*LOG_PROCESS["actions"],
                {"action_type": "create_alert",
                 "action_config": {"title": "Level {{ event.n }}", "severity": "warning"}}],
}


@pytest.fixture(scope="session")
def station_outbox(tmp_path_factory: pytest.TempPathFactory) -> StationOutbox:
    db = tmp_path_factory.mktemp("station") / "st01.db"
    process_uid = prefill_station(db, "st01", 12, ALERTING_PROCESS)
    rows = [(s, k, u, bytes(p)) for s, k, u, p in sqlite_rows(
        db, "SELECT seq, kind, uid, payload FROM outbox ORDER BY seq")]
    executions = {uid: (status, steps, logs) for uid, status, steps, logs in sqlite_rows(
        db, "SELECT e.uid, e.status, (SELECT COUNT(*) FROM process_execution_steps s "
            "WHERE s.execution_id = e.id), (SELECT COUNT(*) FROM process_execution_logs g "
            "WHERE g.execution_id = e.id) FROM process_executions e")}
    return StationOutbox("st01", process_uid, rows, executions)


@pytest.fixture(params=["sqlite", "postgres"])
def central_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Central's database, migrated and bound in this process: SQLite, then PostgreSQL."""
    from central.db import open_central_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.db'}"
    else:
        base = request.getfixturevalue("pg_database")
        url = f"{base}?schema=t_{secrets.token_hex(4)}"
    db = open_central_database(url)
    db.connect(reuse_if_open=True)
    yield url
    db.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    try:
        with postgres_database() as url:
            yield url
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is needed: {exc}")


@pytest.fixture
def raw(broker: Mosquitto) -> Iterator[Callable[[str], Raw]]:
    """Bare MQTT clients on the session's broker, each its own user; closed at the end."""
    made: list[Raw] = []

    def make(user: str) -> Raw:
        client = Raw(broker, user)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
