"""firefly-agent doctor and firefly-central doctor against real things: a Mosquitto with
passwords, TCP listeners, a pseudo-terminal as the serial device, damaged databases."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.doctor import FAIL, OK, WARN, check_clock, check_disk
from tests.ops.ops_support import (
    STATION_PASSWORD,
    PasswordBroker,
    agent_env,
    password_broker,
    run_agent,
    running_agent,
)
from tests.support import REPO, free_port

FIREFLY_CENTRAL = str(Path(sys.executable).parent / "firefly-central")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PasswordBroker]:
    with password_broker(tmp_path) as b:
        yield b


@pytest.fixture
def radio_listener() -> Iterator[int]:
    """Something accepting TCP connections, as a radio's network API does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    done = run_agent(env, "doctor", "--json", "--timeout", "5", *args)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in report["checks"]}, done.stdout + done.stderr


@pytest.mark.broker
def test_healthy_station_passes_every_check(tmp_path: Path, broker: PasswordBroker,
                                            radio_listener: int) -> None:
    env = agent_env(tmp_path, FIREFLY_MQTT=broker.url(),
                    FIREFLY_RADIO=f"tcp://127.0.0.1:{radio_listener}")
    assert run_agent(env, "process", "list").returncode == 0  # creates and migrates the db
    code, checks, output = doctor(env)
    assert code == 0, output
    for name in ("radio", "broker", "permissions", "disk"):
        assert checks[name]["verdict"] == OK, checks[name]
    # The sync's migrations run when the sync first starts: until then they are pending.
    assert checks["database"]["verdict"] in (OK, WARN)
    assert "integrity" in checks["database"]["detail"] or "pending" in checks["database"]["detail"]
    assert STATION_PASSWORD not in output
    text = run_agent(env, "doctor").stdout
    assert "OK    broker" in text and f"mqtt://st01@127.0.0.1:{broker.port}" in text
    assert STATION_PASSWORD not in text


@pytest.mark.broker
def test_each_problem_is_a_fail_with_what_to_do(tmp_path: Path, broker: PasswordBroker) -> None:
    (tmp_path / "station.db").write_bytes(b"this is not an SQLite database" * 200)
    env = agent_env(tmp_path, FIREFLY_MQTT=broker.url(password="wrong-password"),
                    FIREFLY_RADIO=f"tcp://127.0.0.1:{free_port()}")
    code, checks, output = doctor(env)
    assert code == 1
    assert checks["broker"]["verdict"] == FAIL
    assert "refused" in checks["broker"]["detail"]
    assert "add-station" in checks["broker"]["fix"]
    assert checks["radio"]["verdict"] == FAIL and "cannot connect" in checks["radio"]["detail"]
    assert checks["database"]["verdict"] == FAIL
    assert "restore" in checks["database"]["fix"]
    assert "wrong-password" not in output
    text = run_agent(env, "doctor").stdout
    assert "FAIL  broker" in text and "->" in text


def test_broker_that_is_down_and_a_missing_ca_file(tmp_path: Path) -> None:
    env = agent_env(tmp_path, FIREFLY_MQTT=f"mqtt://st01:pw@127.0.0.1:{free_port()}")
    code, checks, _ = doctor(env)
    assert code == 1 and checks["broker"]["verdict"] == FAIL
    assert "cannot connect" in checks["broker"]["detail"]
    env["FIREFLY_MQTT"] = f"mqtts://st01:pw@127.0.0.1:{free_port()}?ca={tmp_path / 'no-ca.crt'}"
    code, checks, _ = doctor(env)
    assert checks["broker"]["verdict"] == FAIL and "no such file" in checks["broker"]["detail"]


def test_serial_radio_device_present_or_missing(tmp_path: Path) -> None:
    controller, device = os.openpty()  # a real character device, like /dev/ttyUSB0
    try:
        tty = os.ttyname(device)
        env = agent_env(tmp_path, FIREFLY_RADIO=f"serial://{tty}")
        code, checks, _ = doctor(env)
        assert checks["radio"]["verdict"] == OK, checks["radio"]
        assert "readable and writable" in checks["radio"]["detail"]
    finally:
        os.close(controller)
        os.close(device)
    env = agent_env(tmp_path, FIREFLY_RADIO="serial:///dev/ttyUSB97")
    code, checks, _ = doctor(env)
    assert code == 1 and checks["radio"]["verdict"] == FAIL
    assert "no such device" in checks["radio"]["detail"]
    assert "plug the radio in" in checks["radio"]["fix"]


def test_data_directory_that_cannot_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    env = agent_env(tmp_path, FIREFLY_DB=str(blocked / "sub" / "station.db"))
    code, checks, _ = doctor(env)
    assert code == 1 and checks["permissions"]["verdict"] == FAIL


def test_running_agent_is_reported_and_its_tcp_radio_not_stolen(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    with running_agent(env, tmp_path / "agent.log") as agent:
        env_tcp = {**env, "FIREFLY_RADIO": f"tcp://127.0.0.1:{free_port()}"}
        code, checks, _ = doctor(env_tcp)
        assert code == 0
        assert checks["agent"]["detail"] == f"running (pid {agent.proc.pid})"
        assert checks["radio"]["verdict"] == OK and "not probed" in checks["radio"]["detail"]
        code, checks, _ = doctor(env_tcp, "--probe-radio")
        assert code == 1 and checks["radio"]["verdict"] == FAIL


def test_pending_migrations_are_a_warning(tmp_path: Path) -> None:
    env = agent_env(tmp_path)
    assert run_agent(env, "process", "list").returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "station.db") as conn:
        conn.execute("DELETE FROM schema_migration")
    code, checks, _ = doctor(env)
    assert code == 0
    assert checks["database"]["verdict"] == WARN
    assert "0001_initial" in checks["database"]["detail"]
    assert "restart" in checks["database"]["fix"]
    with sqlite3.connect(tmp_path / "station.db") as conn:
        conn.execute("INSERT INTO schema_migration (name, applied) VALUES "
                     "('0001_initial', '2026-01-01'), ('9999_from_the_future', '2026-01-01')")
    code, checks, _ = doctor(env)
    assert code == 1 and "9999_from_the_future" in checks["database"]["detail"]


# --- the decisions of single checks, with the measurements given ---------------------------

def _usage(free: int, total: int) -> object:
    return lambda path: SimpleNamespace(free=free, total=total, used=total - free)


@pytest.mark.parametrize(("free_mb", "total_mb", "verdict"), [
    (8000, 32000, OK),  # 25 %
    (2000, 32000, WARN),  # 6 %: under 10 %
    (400, 1000, WARN),  # 40 % but under 500 MB
    (40, 32000, FAIL),  # under 50 MB: the database cannot grow
])
def test_disk_thresholds(tmp_path: Path, free_mb: int, total_mb: int, verdict: str) -> None:
    mb = 1024 * 1024
    check = check_disk(tmp_path, usage=_usage(free_mb * mb, total_mb * mb))  # type: ignore[arg-type]
    assert check.verdict == verdict
    assert (check.fix != "") == (verdict != OK)


def test_clock_verdicts() -> None:
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert check_clock(now, lambda: True).verdict == OK
    assert check_clock(now, lambda: None).verdict == OK  # no timedatectl: cannot tell
    assert check_clock(now, lambda: False).verdict == WARN
    unset = check_clock(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), lambda: None)
    assert unset.verdict == WARN and "RTC" in unset.fix


# --- central -------------------------------------------------------------------------------

def central_doctor(env: dict[str, str]) -> tuple[int, dict[str, dict[str, str]], str]:
    done = subprocess.run([FIREFLY_CENTRAL, "doctor", "--json", "--timeout", "5"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode in (0, 1), done.stderr
    return (done.returncode, {c["name"]: c for c in json.loads(done.stdout)["checks"]},
            done.stdout + done.stderr)


def central_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    return {**base, "FIREFLY_MQTT": "none", "FIREFLY_LISTEN": f"127.0.0.1:{free_port()}", **env}


@pytest.mark.broker
def test_central_doctor_sqlite(tmp_path: Path, broker: PasswordBroker) -> None:
    env = central_env(FIREFLY_DATABASE_URL=f"sqlite:///{tmp_path / 'central.db'}",
                      FIREFLY_MQTT=broker.url())
    code, checks, _ = central_doctor(env)
    assert checks["database"]["verdict"] == WARN  # not created yet
    migrated = subprocess.run([FIREFLY_CENTRAL, "migrate"], env=env, capture_output=True,
                              text=True, timeout=90)
    assert migrated.returncode == 0, migrated.stderr
    code, checks, output = central_doctor(env)
    assert code == 0, output
    assert [c for c in checks.values() if c["verdict"] != OK] == []
    assert STATION_PASSWORD not in output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        env["FIREFLY_LISTEN"] = f"127.0.0.1:{taken.getsockname()[1]}"
        code, checks, _ = central_doctor(env)
        assert checks["listen"]["verdict"] == WARN and "in use" in checks["listen"]["detail"]


@pytest.mark.postgres
def test_central_doctor_postgresql(tmp_path: Path) -> None:
    import psycopg2

    schema = f"doctor_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}"
    env = central_env(FIREFLY_DATABASE_URL=url)
    try:
        migrated = subprocess.run([FIREFLY_CENTRAL, "migrate"], env=env,
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        code, checks, output = central_doctor(env)
        assert checks["database"]["verdict"] == OK, output
        env["FIREFLY_DATABASE_URL"] = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/test"
        code, checks, output = central_doctor(env)
        assert code == 1 and checks["database"]["verdict"] == FAIL
        assert ":***@" in checks["database"]["detail"] and ":pw@" not in output
    finally:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()
