"""Running one execution: steps in order, conditions, retries, timeouts, durable waits.

An execution is a small state machine (``Run``) advanced on the engine thread. Between two
commits the runner does only quick, local work; anything slow (an external action, a delay, a
retry back-off) suspends the run and the engine resumes it later, so one slow process never
holds up the others. Commit points: after each step, the last one together with the end of
the execution (an execution of three local actions costs three commits).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.core.models import ProcessExecution, database, utcnow
from agent.engine import store
from agent.engine.compiled import CompiledAction, CompiledProcess
from agent.engine.conditions import ConditionContext, ConditionError
from agent.engine.context import ActionContext
from agent.engine.events import Event
from agent.engine.registry import ActionFailed
from agent.engine.templating import TemplateError, render_config

if TYPE_CHECKING:
    from agent.engine.engine import Engine

_LOG = logging.getLogger(__name__)


@dataclass
class Run:
    process: CompiledProcess
    event: Event
    execution_id: int = 0
    execution_uid: str = ""
    index: int = 0  # the action being run or next to run
    attempt: int = 0  # attempt number of that action (0 = first)
    attempts_total: int = 0
    steps: dict[str, Any] = field(default_factory=dict)  # "<action_order>" -> outcome
    steps_completed: int = 0
    started_mono: float = field(default_factory=time.monotonic)
    log_seq: int = 0
    token: int = 0  # bumped on every suspension: stale wake-ups are ignored
    step_id: int | None = None  # the step row of an external or delay step in flight
    step_started: dt.datetime | None = None
    pending_logs: list[dict[str, Any]] = field(default_factory=list)  # written at commit points
    done: bool = False
    status: str = "running"
    on_created: list[Callable[[int], None]] = field(default_factory=list)
    on_finished: list[Callable[[Run], None]] = field(default_factory=list)


class Runner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.services = engine.services

    # -- entry points (engine thread) ------------------------------------------------------

    def start(self, run: Run) -> None:
        self._advance(run, None)

    def resume_after_wait(self, run: Run, token: int) -> None:
        """A delay ended or a retry back-off passed."""
        if token == run.token and not run.done:
            self._advance(run, self._after_wait)

    def external_done(self, run: Run, token: int, result: Any, error: ActionFailed | None) \
            -> None:
        if token == run.token and not run.done:
            self._advance(run, lambda r: self._after_external(r, result, error))

    def cancel(self, run: Run, reason: str) -> None:
        """Stop a run now (mode restart, a paused process)."""
        if run.done:
            return
        run.token += 1
        with database.atomic():
            self._finish(run, "cancelled", reason, [])
        self.engine.run_finished(run)

    # -- the loop ---------------------------------------------------------------------------

    def _advance(self, run: Run, resume: Callable[[Run], list[Event] | None] | None) -> None:
        events: list[Event] = []
        after_commit: list[Callable[[], None]] = []
        try:
            with database.atomic() as tx:
                if run.execution_id == 0:
                    self._create(run)
                if resume is not None:
                    events += resume(run) or []
                    if run.status == "waiting":
                        self._outbox(run)
                while not run.done and run.status != "waiting":
                    if self._past_deadline(run):
                        self._finish(run, "timeout", "execution timeout "
                                     f"({self.settings.execution_timeout_seconds} s) reached", events)
                        break
                    if run.index >= len(run.process.actions):
                        self._finish(run, "completed", None, events)
                        break
                    suspended = self._step(run, events, after_commit)
                    if suspended:
                        self._outbox(run)
                        break
                    if not run.done and run.index < len(run.process.actions):
                        store.add_logs(run.pending_logs)
                        tx.commit()
                        self.engine.deliver(events)
                        events = []
        except Exception:  # noqa: BLE001 - a bug must fail one execution, never the engine
            _LOG.exception("execution %s of %s crashed", run.execution_id, run.process.name)
            run.pending_logs.clear()
            events = []
            after_commit = []
            self._crashed(run)
        for callback in run.on_created:
            callback(run.execution_id)
        run.on_created.clear()
        self.engine.deliver(events)
        for fn in after_commit:
            fn()
        if run.done:
            self.engine.run_finished(run)

    def _create(self, run: Run) -> None:
        execution = store.create_execution(run.process, run.event, self.services.station_id,
                                           "running", uid=run.execution_uid or None)
        run.execution_id, run.execution_uid = execution.id, execution.uid
        self._log(run, f"triggered by {run.event.type} ({run.event.source}, "
                       f"{run.event.triggered_by})")

    def _past_deadline(self, run: Run) -> bool:
        limit = self.settings.execution_timeout_seconds
        return time.monotonic() - run.started_mono > limit

    def _variables(self, run: Run) -> dict[str, Any]:
        return {
            "event": run.event.as_variables(),
            "steps": run.steps,
            "process": {"id": run.process.id, "uid": run.process.uid, "name": run.process.name},
            "station": {"id": self.services.station_id},
            "execution": {"id": run.execution_id, "uid": run.execution_uid},
        }

    def _step(self, run: Run, events: list[Event], after_commit: list[Callable[[], None]]) \
            -> bool:
        """Run the current action; True when the run is suspended."""
        action = run.process.actions[run.index]
        variables = self._variables(run)
        run.attempts_total += 1
        if run.attempts_total > self.settings.max_steps:
            self._finish(run, "failed", f"more than {self.settings.max_steps} steps", events)
            return False
        if action.has_conditions and not self._conditions_hold(run, action, variables):
            return False
        try:
            config = render_config(action.config, variables)
        except TemplateError as exc:
            self._record_attempt(run, action, utcnow(), 0, "failed", None, f"template: {exc}")
            self._finish(run, "failed", f"actions[{action.index}] ({action.type_name}): "
                         f"template: {exc}", events)
            return False
        kind = action.action.effect
        started = utcnow()
        if kind == "delay":
            return self._start_delay(run, action, config, started)
        if kind == "external":
            return self._start_external(run, action, config, started, after_commit)
        ctx = self._context(run, action, variables)
        t0 = time.perf_counter()
        try:
            with database.atomic():  # a savepoint: a failed attempt leaves no writes
                result = action.action.run(ctx, config)
        except ActionFailed as exc:
            ms = _ms(t0)
            return self._attempt_failed(run, action, started, ms, exc, None, events)
        except Exception as exc:  # noqa: BLE001 - an action's bug is that attempt's failure
            ms = _ms(t0)
            failure = ActionFailed(f"{type(exc).__name__}: {exc}")
            return self._attempt_failed(run, action, started, ms, failure, None, events)
        self._record_attempt(run, action, started, _ms(t0), "completed", result, None)
        events += ctx.emitted
        self._step_done(run, action, result)
        return False

    def _conditions_hold(self, run: Run, action: CompiledAction, variables: dict[str, Any]) \
            -> bool:
        try:
            ok = action.check(ConditionContext(variables, self.services))
        except ConditionError as exc:
            message = f"condition could not be evaluated: {exc}"
            self._record_attempt(run, action, utcnow(), 0, "skipped", None, message)
            self._log(run, f"step {action.order} ({action.type_name}) skipped: {message}",
                      "warning", action.order)
            self._skip(run, action, message)
            return False
        if not ok:
            self._record_attempt(run, action, utcnow(), 0, "skipped", None, None)
            self._log(run, f"step {action.order} ({action.type_name}) skipped: conditions false",
                      step=action.order)
            self._skip(run, action, None)
        return ok

    def _skip(self, run: Run, action: CompiledAction, error: str | None) -> None:
        run.steps[str(action.order)] = {"status": "skipped", "result": None, "error": error}
        run.index += 1
        run.attempt = 0

    def _context(self, run: Run, action: CompiledAction, variables: dict[str, Any]) \
            -> ActionContext:
        return ActionContext(
            services=self.services,
            execution_id=run.execution_id,
            execution_uid=run.execution_uid,
            process_uid=run.process.uid,
            process_name=run.process.name,
            action_order=action.order,
            attempt=run.attempt,
            variables=variables,
            chain=(*run.event.chain, run.process.uid),
            log=lambda level, message: self._log(run, message, level, action.order),
        )

    def _record_attempt(self, run: Run, action: CompiledAction, started: dt.datetime, ms: int,
                        status: str, result: Any, error: str | None) -> None:
        store.add_step(run.execution_id, action, run.attempt, status, started,
                       completed_at=utcnow(), execution_time_ms=ms,
                       result=result, error_message=error)

    def _step_done(self, run: Run, action: CompiledAction, result: Any) -> None:
        run.steps[str(action.order)] = {"status": "completed", "result": result, "error": None}
        run.steps_completed += 1
        retried = f" after {run.attempt} retries" if run.attempt else ""
        self._log(run, f"step {action.order} ({action.type_name}) completed{retried}",
                  step=action.order)
        run.index += 1
        run.attempt = 0
        run.step_id = None

    def _attempt_failed(self, run: Run, action: CompiledAction, started: dt.datetime, ms: int,
                        failure: ActionFailed, step_id: int | None, events: list[Event]) -> bool:
        message = str(failure)
        if step_id is None:
            self._record_attempt(run, action, started, ms, "failed", failure.result, message)
        else:
            store.update_step(step_id, status="failed", completed_at=utcnow(),
                              execution_time_ms=ms, error_message=message, result=failure.result)
        run.step_id = None
        if failure.retryable and run.attempt < action.retry_count:
            delay = min(self.settings.retry_backoff_max_seconds,
                        self.settings.retry_backoff_seconds * 2 ** run.attempt)
            self._log(run, f"step {action.order} ({action.type_name}) attempt {run.attempt + 1} "
                           f"failed: {message}; retry in {delay:g} s", "warning", action.order)
            run.attempt += 1
            self._wait(run, delay)
            return True
        run.steps[str(action.order)] = {"status": "failed", "result": failure.result,
                                        "error": message}
        self._log(run, f"step {action.order} ({action.type_name}) failed: {message}", "error",
                  action.order)
        self._finish(run, "failed", f"actions[{action.index}] ({action.type_name}): {message}",
                     events)
        return False

    # -- suspensions ------------------------------------------------------------------------

    def _wait(self, run: Run, seconds: float) -> None:
        resume_at = utcnow() + dt.timedelta(seconds=seconds)
        store.update_execution(run.execution_id, status="waiting", resume_at=resume_at)
        run.status = "waiting"
        run.token += 1
        token = run.token
        self.engine.call_later(seconds, lambda: self.resume_after_wait(run, token))

    def _after_wait(self, run: Run) -> list[Event]:
        store.update_execution(run.execution_id, status="running", resume_at=None)
        run.status = "running"
        if run.step_id is not None:  # a delay step ends
            action = run.process.actions[run.index]
            started = run.step_started or utcnow()
            ms = int((utcnow() - started).total_seconds() * 1000)
            store.update_step(run.step_id, status="completed", completed_at=utcnow(),
                              execution_time_ms=ms)
            self._step_done(run, action, {"waited_ms": ms})
        return []

    def _start_delay(self, run: Run, action: CompiledAction, config: dict[str, Any],
                     started: dt.datetime) -> bool:
        seconds = float(config.get("seconds", 0)) + 60 * float(config.get("minutes", 0))
        until = started + dt.timedelta(seconds=seconds)
        step = store.add_step(run.execution_id, action, run.attempt, "running", started,
                              result={"until": until.isoformat()})
        run.step_id, run.step_started = step.id, started
        self._log(run, f"step {action.order} (delay) waits {seconds:g} s", step=action.order)
        self._wait(run, seconds)
        return True

    def _start_external(self, run: Run, action: CompiledAction, config: dict[str, Any],
                        started: dt.datetime, after_commit: list[Callable[[], None]]) -> bool:
        step = store.add_step(run.execution_id, action, run.attempt, "running", started)
        run.step_id, run.step_started = step.id, started
        run.token += 1
        token = run.token
        ctx = self._context(run, action, self._variables(run))
        self._log(run, f"step {action.order} ({action.type_name}) attempt {run.attempt + 1} "
                       "started", step=action.order)
        after_commit.append(lambda: self.engine.run_external(run, token, action, ctx, config))
        return True

    def _after_external(self, run: Run, result: Any, error: ActionFailed | None) -> list[Event]:
        action = run.process.actions[run.index]
        started = run.step_started or utcnow()
        ms = int((utcnow() - started).total_seconds() * 1000)
        events: list[Event] = []
        if run.step_id is None:
            return events
        if error is None:
            store.update_step(run.step_id, status="completed", completed_at=utcnow(),
                              execution_time_ms=ms, result=result)
            self._step_done(run, action, result)
        else:  # a retry suspends the run again (status waiting), or the execution fails
            self._attempt_failed(run, action, started, ms, error, run.step_id, events)
        return events

    # -- the end ----------------------------------------------------------------------------

    def _finish(self, run: Run, status: str, error: str | None, events: list[Event]) -> None:
        elapsed = int((time.monotonic() - run.started_mono) * 1000)
        store.finish_execution(run.execution_id, run.process.id, status, error, elapsed,
                               run.steps_completed)
        self._log(run, f"{status} in {elapsed} ms" + (f": {error}" if error else ""),
                  "info" if status == "completed" else "error")
        if status in ("failed", "timeout") and self.settings.alert_on_failure:
            events += self.engine.system_alert(
                f"Process '{run.process.name}' {status}",
                error or status, severity="warning", source_ref=run.execution_uid,
                chain=(*run.event.chain, run.process.uid),
            )
        self._outbox(run)
        run.done, run.status = True, status

    def _crashed(self, run: Run) -> None:
        try:
            with database.atomic():
                if run.execution_id == 0:
                    self._create(run)
                self._finish(run, "failed", "internal error (see the agent log)", [])
        except Exception:  # noqa: BLE001
            _LOG.exception("could not record the crash of execution %s", run.execution_id)
            if run.execution_id:
                store.update_execution(run.execution_id, status="failed", completed_at=utcnow(),
                                       error_message="internal error (see the agent log)")
            run.done, run.status = True, "failed"

    def _log(self, run: Run, message: str, level: str = "info", step: int | None = None) -> None:
        run.log_seq += 1
        run.pending_logs.append({"execution": run.execution_id, "seq": run.log_seq, "at": utcnow(),
                                 "level": level, "step": step, "message": message[:2000]})

    def _outbox(self, run: Run) -> None:
        store.add_logs(run.pending_logs)
        if self.settings.outbox:
            store.outbox_execution(run.execution_id)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def restore_run(execution: ProcessExecution, process: CompiledProcess, event: Event) -> Run:
    """A Run rebuilt from the database after a restart (see Engine.recover)."""
    run = Run(process=process, event=event, execution_id=execution.id,
              execution_uid=execution.uid, status=execution.status)
    started = execution.started_at
    run.started_mono = time.monotonic() - max(0.0, (utcnow() - started).total_seconds())
    return run
