"""The engine end to end on a real SQLite file: steps, retries, timeouts, modes, guards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from peewee import fn

from agent.core.models import (
    Alert,
    Outbox,
    Process,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    database,
    utcnow,
)
from agent.engine.engine import Engine
from agent.engine.retention import prune
from agent.processes import save_process
from tests.engine.engine_types import SlowAction, ping
from tests.support import wait_until


def process(actions: list[dict[str, Any]], triggers: list[dict[str, Any]] | None = None,
            **extra: Any) -> Process:
    return save_process({"name": extra.pop("name", "p"),
                         "triggers": triggers or [{"trigger_type": "manual"}],
                         "actions": actions, **extra})


def run(engine: Engine, p: Process, data: dict[str, Any] | None = None, timeout: float = 10) \
        -> ProcessExecution:
    handle = engine.run_process(p.uid, data)
    execution_id = handle.created.result(timeout)
    handle.finished.result(timeout)
    return ProcessExecution.get_by_id(execution_id)


def steps(execution: ProcessExecution) -> list[tuple[int, str, int]]:
    return [(s.action_order, s.status, s.retry_count) for s in ProcessExecutionStep.select()
            .where(ProcessExecutionStep.execution == execution.id).order_by(ProcessExecutionStep.id)]


LOG = {"action_type": "log", "action_config": {"message": "hello {{ event.who }}"}}


def test_three_quick_actions_cost_three_commits(engine_factory: Callable[..., Engine]) -> None:
    p = process([LOG, LOG, LOG])
    engine = engine_factory()
    run(engine, p)  # warm up
    commits = []
    real_commit = database.obj.commit

    def counting_commit() -> Any:
        commits.append(1)
        return real_commit()

    database.obj.commit = counting_commit
    try:
        execution = run(engine, p, {"who": "Ann"})
    finally:
        database.obj.commit = real_commit
    assert execution.status == "completed"
    assert execution.steps_completed == execution.total_steps == 3
    assert len(commits) <= 3


def test_results_feed_later_steps_and_everything_is_logged(engine_factory: Callable[..., Engine]) \
        -> None:
    p = process([
        {"action_type": "create_alert",
         "action_config": {"title": "SOS from {{ event.from_name }}", "severity": "critical"}},
        {"action_type": "log", "action_config": {"message": "raised {{ steps.1.result.alert_uid }}"}},
    ])
    execution = run(engine_factory(), p, {"from_name": "Ann"})
    alert = Alert.get()
    assert alert.title == "SOS from Ann" and alert.severity == "critical"
    log = [g.message for g in ProcessExecutionLog.select()
           .where(ProcessExecutionLog.execution == execution.id).order_by(ProcessExecutionLog.seq)]
    assert f"raised {alert.uid}" in log
    assert log[0].startswith("triggered by manual") and log[-1].startswith("completed in")
    kinds = [o.kind for o in Outbox.select().order_by(Outbox.seq)]
    assert kinds == ["alert", "execution"]  # both written for central, in commit order


def test_retries_with_backoff_record_every_attempt(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "test_flaky", "action_config": {"fail_times": 2}, "retry_count": 2}])
    execution = run(engine_factory(), p)
    assert execution.status == "completed"
    assert steps(execution) == [(1, "failed", 0), (1, "failed", 1), (1, "completed", 2)]


def test_exhausted_retries_fail_and_raise_a_system_alert(engine_factory: Callable[..., Engine]) \
        -> None:
    p = process([{"action_type": "test_flaky", "action_config": {"fail_times": 5}, "retry_count": 1},
                 LOG], name="Flaky")
    execution = run(engine_factory(), p)
    assert execution.status == "failed"
    assert "flaky failure 2" in execution.error_message
    assert steps(execution) == [(1, "failed", 0), (1, "failed", 1)]  # step 2 never ran
    alert = Alert.get(Alert.source == "system")
    assert "Flaky" in alert.title and alert.source_ref == execution.uid


def test_external_attempt_timeout_is_a_failure_and_late_results_are_ignored(
        engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "test_slow", "action_config": {"seconds": 2},
                  "timeout_seconds": 1}])
    execution = run(engine_factory(), p)
    assert execution.status == "failed" and "timed out after 1 s" in execution.error_message
    wait_until(lambda: execution.uid in SlowAction.finished, message="the late result")
    assert steps(execution) == [(1, "failed", 0)]


def test_conditions_skip_and_unevaluable_conditions_are_reported(
        engine_factory: Callable[..., Engine]) -> None:
    p = process([
        {**LOG, "conditions": {"field": "event.level", "op": "gt", "value": 3}},
        {**LOG, "conditions": {"field": "event.nope", "op": "eq", "value": 1}},
        LOG,
    ])
    execution = run(engine_factory(), p, {"level": 1})
    assert execution.status == "completed" and execution.steps_completed == 1
    rows = list(ProcessExecutionStep.select().where(ProcessExecutionStep.execution == execution.id)
                .order_by(ProcessExecutionStep.id))
    assert [r.status for r in rows] == ["skipped", "skipped", "completed"]
    assert rows[0].error_message is None
    assert "could not be evaluated" in rows[1].error_message and "event.nope" in rows[1].error_message


def test_mode_single_drops_and_records_a_second_run(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 0.5}}], mode="single")
    engine = engine_factory()
    first = engine.run_process(p.uid)
    second = engine.run_process(p.uid)
    assert second.finished.result(5) == "dropped"
    assert first.finished.result(5) == "completed"
    dropped = ProcessExecution.get_by_id(second.created.result(1))
    assert "mode single" in dropped.error_message


def test_mode_restart_cancels_the_running_one(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 0.5}}], mode="restart")
    engine = engine_factory()
    first = engine.run_process(p.uid)
    first.created.result(5)
    second = engine.run_process(p.uid)
    assert first.finished.result(5) == "cancelled"
    assert second.finished.result(5) == "completed"


def test_mode_queued_runs_one_after_another(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 0.2}}], mode="queued", max=5)
    engine = engine_factory()
    handles = [engine.run_process(p.uid, {"n": i}) for i in range(3)]
    assert [h.finished.result(10) for h in handles] == ["completed"] * 3
    runs = list(ProcessExecution.select().order_by(ProcessExecution.started_at))
    ends = [r.completed_at for r in runs]
    assert ends == sorted(ends)
    # each started only after the previous one ended (queued rows keep their creation time,
    # so compare the log's "completed" line with the next run's last line)
    assert all(runs[i].completed_at <= runs[i + 1].completed_at for i in range(2))


def test_mode_parallel_is_bounded(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 0.5}}], mode="parallel",
                max=2)
    engine = engine_factory()
    handles = [engine.run_process(p.uid) for _ in range(3)]
    assert sorted(h.finished.result(5) for h in handles) == ["completed", "completed", "dropped"]


def test_global_concurrency_limit_queues_the_rest(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 0.2}}], mode="parallel",
                max=10)
    engine = engine_factory(max_concurrent_executions=1)
    handles = [engine.run_process(p.uid) for _ in range(3)]
    assert [h.finished.result(10) for h in handles] == ["completed"] * 3
    statuses_seen = {g.message for g in ProcessExecutionLog.select()}
    assert any(m.startswith("completed") for m in statuses_seen)


def test_execution_timeout(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "delay", "action_config": {"seconds": 1}}, LOG])
    execution = run(engine_factory(execution_timeout_seconds=0.3, alert_on_failure=False), p)
    assert execution.status == "timeout"


def test_loop_guard_stops_a_process_triggered_by_its_own_events(
        engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "test_emit_ping", "action_config": {"topic": "x"}}],
                triggers=[{"trigger_type": "test_ping", "trigger_config": {"topic": "x"}}],
                mode="parallel", max=100)
    engine = engine_factory()
    engine.submit(ping("x"))
    wait_until(lambda: engine.stats["loop_refused"] >= 1, message="the loop guard")
    assert ProcessExecution.select().where(ProcessExecution.process_id == p.id).count() == 1


def test_chains_stop_at_the_depth_limit(engine_factory: Callable[..., Engine]) -> None:
    # p0 on "t0" emits "t1", p1 on "t1" emits "t2", ... a chain of 6 different processes
    for i in range(6):
        process([{"action_type": "test_emit_ping", "action_config": {"topic": f"t{i + 1}"}}],
                triggers=[{"trigger_type": "test_ping", "trigger_config": {"topic": f"t{i}"}}],
                name=f"p{i}")
    engine = engine_factory(max_chain_depth=3)
    engine.submit(ping("t0"))
    wait_until(lambda: engine.stats["loop_refused"] >= 1, message="the depth limit")
    assert ProcessExecution.select().count() == 3


def test_rate_guard_pauses_a_runaway_process_and_alerts(engine_factory: Callable[..., Engine]) \
        -> None:
    p = process([LOG], mode="parallel", max=100, name="Chatty")
    engine = engine_factory(rate_limit_per_minute=3)
    results = [engine.run_process(p.uid).finished.result(5) for _ in range(4)]
    assert results == ["completed"] * 3 + ["dropped"]
    assert Process.get_by_id(p.id).paused
    alert = Alert.get(Alert.source == "system")
    assert "Chatty" in alert.title and "paused" in alert.title
    with pytest.raises(Exception, match="not active"):
        engine.run_process(p.uid).created.result(5)  # unloaded once paused


def test_process_counters_are_incremental(engine_factory: Callable[..., Engine]) -> None:
    p = process([{"action_type": "test_flaky", "action_config": {"fail_times": "{{ event.fails }}"}}],
                mode="queued")
    engine = engine_factory(alert_on_failure=False)
    for fails in (0, 0, 1):
        run(engine, p, {"fails": fails})
    row = Process.get_by_id(p.id)
    assert row.execution_count == 3 and row.success_count == 2
    assert row.success_rate == pytest.approx(2 / 3)
    times = [e.execution_time_ms for e in ProcessExecution.select()]
    assert row.avg_execution_time == pytest.approx(sum(times) / 3, abs=0.01)
    assert row.last_executed is not None


def test_retention_prunes_by_age_and_count(station_db: object) -> None:
    p = process([LOG])
    old = utcnow() - dt.timedelta(days=40)
    for i in range(10):
        ProcessExecution.create(process_id=p.id, status="completed",
                                started_at=old if i < 3 else utcnow())
    ProcessExecution.create(process_id=p.id, status="running", started_at=old)
    removed = prune(days=30, max_executions=5)
    assert removed == 5  # 3 too old, then 2 more beyond the newest 5
    left = ProcessExecution.select()
    assert left.count() == 6 and left.where(ProcessExecution.status == "running").count() == 1
    assert ProcessExecution.select(fn.MIN(ProcessExecution.id)).scalar() is not None
