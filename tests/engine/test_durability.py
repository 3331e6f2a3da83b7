"""Durable execution: a killed agent resumes its executions at the first unfinished step."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from agent.core.models import ProcessExecution, ProcessExecutionStep
from agent.engine.engine import Engine
from agent.processes import save_process
from tests.support import REPO, wait_until


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def start_agent(db: Path, tmp: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FIREFLY_DB": str(db), "FIREFLY_STATION_ID": "st-kill",
           "FIREFLY_RADIO": "none", "FIREFLY_MQTT": "none"}
    with open(tmp / "agent.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "agent", "run"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)


def test_agent_killed_mid_execution_resumes_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "station.db"
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
    definition = {
        "name": "Check-in reminder",
        "triggers": [{"trigger_type": "time_schedule", "trigger_config": {"at": at}}],
        "actions": [
            {"action_type": "log", "action_config": {"message": "before"}},
            {"action_type": "delay", "action_config": {"seconds": 3}},
            {"action_type": "log", "action_config": {"message": "after"}},
        ],
    }
    (tmp_path / "p.json").write_text(json.dumps(definition))
    env = {**os.environ, "FIREFLY_DB": str(db)}
    subprocess.run([sys.executable, "-m", "agent", "process", "import", str(tmp_path / "p.json")],
                   cwd=REPO, env=env, check=True, capture_output=True)
    agent = start_agent(db, tmp_path)
    try:
        waiting = wait_until(lambda: query(db, "SELECT uid FROM process_executions "
                                               "WHERE status = 'waiting'"),
                             timeout=30, message="the execution to wait in its delay")
        uid = waiting[0][0]
        agent.send_signal(signal.SIGKILL)  # a power cut, as far as the database can tell
        agent.wait(10)
        assert query(db, "SELECT status FROM process_executions WHERE uid = ?", uid) \
            == [("waiting",)]
        agent = start_agent(db, tmp_path)
        wait_until(lambda: query(db, "SELECT status FROM process_executions WHERE uid = ?", uid)
                   == [("completed",)], timeout=30, message="the resumed execution to complete")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
    steps = query(db, "SELECT s.action_order, s.status FROM process_execution_steps s "
                      "JOIN process_executions e ON e.id = s.execution_id WHERE e.uid = ? "
                      "ORDER BY s.id", uid)
    assert steps == [(1, "completed"), (2, "completed"), (3, "completed")]  # nothing twice


def _start_unsafe_external(engine_factory: Callable[..., Engine], action_type: str) -> tuple[str, int]:
    p = save_process({"name": "hand-off", "triggers": [{"trigger_type": "manual"}],
                      "actions": [{"action_type": "log", "action_config": {"message": "a"}},
                                  {"action_type": action_type, "action_config": {"seconds": 30},
                                   "timeout_seconds": 60}]})
    engine = engine_factory()
    handle = engine.run_process(p.uid)
    execution_id = handle.created.result(5)
    wait_until(lambda: ProcessExecutionStep.select().where(
        (ProcessExecutionStep.execution == execution_id)
        & (ProcessExecutionStep.status == "running")).count(), message="the external step")
    engine.stop()  # the engine goes away with the step in flight, as in a crash
    return p.uid, execution_id


def test_unsafe_step_in_flight_is_marked_interrupted(engine_factory: Callable[..., Engine]) -> None:
    _uid, execution_id = _start_unsafe_external(engine_factory, "test_unsafe_slow")
    restarted = engine_factory()
    wait_until(lambda: ProcessExecution.get_by_id(execution_id).status == "interrupted",
               message="the execution to be marked interrupted")
    assert restarted.stats["executions"] == 0
    rows = [(s.action_order, s.status) for s in ProcessExecutionStep.select().where(
        ProcessExecutionStep.execution == execution_id).order_by(ProcessExecutionStep.id)]
    assert rows == [(1, "completed"), (2, "failed")]


def test_safe_step_in_flight_is_repeated(engine_factory: Callable[..., Engine]) -> None:
    from tests.engine import engine_types

    # a repeat-safe external action: the restarted engine runs it again, quickly this time
    _uid, execution_id = _start_unsafe_external(engine_factory, "test_slow")
    engine_types.SlowAction.finished.clear()
    original = engine_types.SlowAction.run

    def quick(self: object, ctx: object, config: dict) -> dict:
        return original(self, ctx, {**config, "seconds": 0})  # type: ignore[arg-type]

    engine_types.SlowAction.run = quick  # type: ignore[method-assign]
    try:
        engine_factory()
        wait_until(lambda: ProcessExecution.get_by_id(execution_id).status == "completed",
                   message="the repeated step to complete")
    finally:
        engine_types.SlowAction.run = original  # type: ignore[method-assign]
    rows = [(s.action_order, s.status) for s in ProcessExecutionStep.select().where(
        ProcessExecutionStep.execution == execution_id).order_by(ProcessExecutionStep.id)]
    assert rows == [(1, "completed"), (2, "failed"), (2, "completed")]

