"""The engine: one thread that owns the station database and runs every execution.

Adapters call ``submit(event)`` from any thread; the engine thread matches the event against
the trigger index, applies each process's mode and the loop and rate guards, and advances
executions (see runner.py). Slow work (external actions) runs on a small worker pool and comes
back as a message; waits are timers on the engine thread.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

from peewee import fn

from agent.core.models import (
    Process,
    ProcessAction,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
    ProcessVersion,
    database,
    utcnow,
)
from agent.engine import store
from agent.engine.compiled import CompiledAction, CompiledProcess, TriggerIndex, compile_process
from agent.engine.conditions import ConditionContext, ConditionError
from agent.engine.context import ActionContext, Services, TriggerContext
from agent.engine.events import Event
from agent.engine.guards import RateGuard
from agent.engine.registry import ActionFailed, load_builtin_types
from agent.engine.runner import Run, Runner, restore_run
from agent.processes import runs_on

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    max_chain_depth: int = 4  # events caused by processes, at most this deep
    rate_limit_per_minute: int = 120  # starts of one process; above: paused + alert
    max_concurrent_executions: int = 32  # running at once; more wait as queued
    max_queued_executions: int = 1000  # waiting for a free slot; more are dropped
    execution_timeout_seconds: float = 3600.0
    max_steps: int = 200  # attempts in one execution
    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 300.0
    alert_on_failure: bool = True
    external_workers: int = 4
    definitions_poll_seconds: float = 2.0
    outbox: bool = True  # queue every execution change for central; off at central itself


@dataclass
class RunHandle:
    """What a caller of ``run_process`` waits on."""

    created: Future[int] = field(default_factory=Future)
    finished: Future[str] = field(default_factory=Future)
    execution_uid: str = ""  # the uid to give the execution (central's), "" for a new one


class EngineError(Exception):
    pass


class Engine:
    def __init__(self, services: Services, settings: EngineSettings | None = None,
                 scheduler: Any = None) -> None:
        load_builtin_types()
        self.services = services
        self.settings = settings or EngineSettings()
        self.scheduler = scheduler
        services.submit = self.submit
        services.engine = self
        self.runner = Runner(self)
        self.index = TriggerIndex()
        self.processes: dict[str, CompiledProcess] = {}
        self._detach: dict[str, list[Callable[[], None]]] = {}
        self._runs: dict[str, list[Run]] = {}  # process uid -> running executions
        self._queued: dict[str, deque[Run]] = {}  # process uid -> mode-queued executions
        self._slot_queue: deque[Run] = deque()  # waiting for a free execution slot
        self._running = 0
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._local: deque[Event] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(self.settings.external_workers,
                                        thread_name_prefix="action")
        self._rate = RateGuard(self.settings.rate_limit_per_minute)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._definitions_seen: dt.datetime | None = None
        self._next_poll = 0.0
        self._recover_on_start = True
        # Called on the engine thread when an execution ends (monitoring, benchmarks).
        self.on_finished: list[Callable[[Run], None]] = []
        self.stats: dict[str, int] = dict.fromkeys(
            ("events", "executions", "dropped", "loop_refused", "condition_errors", "paused"), 0)

    # -- any thread ---------------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Hand an event to the engine (never blocks)."""
        self._inbox.put(("event", event))

    def call(self, fn_: Callable[[], Any]) -> Future[Any]:
        """Run ``fn_`` on the engine thread (the database writer); its result as a future."""
        future: Future[Any] = Future()
        self._inbox.put(("call", fn_, future))
        return future

    def run_process(self, process_ref: str, data: dict[str, Any] | None = None,
                    triggered_by: str = "system", source: str = "api",
                    execution_uid: str = "") -> RunHandle:
        """Run a process now, whatever its triggers (manual execution).

        ``execution_uid``: the uid the execution row gets (a run commanded by central, which
        already shows that execution as queued); by default a new one.
        """
        handle = RunHandle(execution_uid=execution_uid)
        event = Event(type="manual", data=dict(data or {}), source=source,
                      keys=frozenset({process_ref}), triggered_by=triggered_by)
        self._inbox.put(("run", process_ref, event, handle))
        return handle

    def queue_depth(self) -> int:
        return self._inbox.qsize()

    def start(self, *, recover: bool = True) -> None:
        """Start the engine thread: load processes and (for the station) resume executions."""
        self._recover_on_start = recover
        self._thread = threading.Thread(target=self._main, name="engine", daemon=True)
        self._thread.start()
        started = self.call(lambda: None)
        started.result(timeout=120)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._inbox.put(("stop",))
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the engine thread --------------------------------------------------------------------

    def _main(self) -> None:
        database.connect(reuse_if_open=True)
        try:
            self.reload()
            if self._recover_on_start:
                self.recover()
            while not self._stopping.is_set():
                self._tick()
        except Exception:
            _LOG.exception("engine stopped by an internal error")
            raise
        finally:
            for detach in itertools.chain.from_iterable(self._detach.values()):
                detach()
            database.close()

    def _tick(self) -> None:
        while self._local:
            self._dispatch(self._local.popleft())
        timeout = 0.5
        if self._timers:
            timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            item = None
        if item is not None:
            self._handle(item)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _due, _seq, callback = heapq.heappop(self._timers)
            self._guarded(callback)
        if now >= self._next_poll:
            self._next_poll = now + self.settings.definitions_poll_seconds
            self._guarded(self._poll_definitions)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "event":
            self._guarded(lambda: self._dispatch(item[1]))
        elif kind == "call":
            future = item[2]
            try:
                future.set_result(item[1]())
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
        elif kind == "run":
            self._guarded(lambda: self._run_now(item[1], item[2], item[3]))
        elif kind == "done":
            _kind, run, token, result, error = item
            self._guarded(lambda: self.runner.external_done(run, token, result, error))

    def _guarded(self, fn_: Callable[[], Any]) -> None:
        try:
            fn_()
        except Exception:  # noqa: BLE001 - one bad event must not stop the engine
            _LOG.exception("engine: error while handling an item")

    def deliver(self, events: list[Event]) -> None:
        """Events caused inside the engine (after their transaction committed)."""
        self._local.extend(events)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._seq), callback))

    # -- matching -----------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        self.stats["events"] += 1
        for hook in self.services.observers.get(event.type, ()):
            try:
                with database.atomic():
                    caused = hook(event)
            except Exception:  # noqa: BLE001 - a module's bug must not stop the triggers
                _LOG.exception("module hook %s failed on %s", hook, event.type)
                continue
            self.deliver(caused)
        started: set[str] = set()
        candidates = self.index.candidates(event.type, event.keys)
        candidates.sort(key=lambda pt: -pt[1].priority)
        for process, trigger in candidates:
            if process.uid in started or not trigger.trigger.matches(event):
                continue
            if process.uid in event.chain or len(event.chain) >= self.settings.max_chain_depth:
                self.stats["loop_refused"] += 1
                _LOG.info("loop guard: %s not started by an event it caused (chain %s)",
                          process.name, event.chain)
                continue
            variables = {"event": event.as_variables(),
                         "process": {"id": process.id, "uid": process.uid, "name": process.name},
                         "station": {"id": self.services.station_id}}
            try:
                if not trigger.check(ConditionContext(variables, self.services)):
                    continue
            except ConditionError as exc:
                self.stats["condition_errors"] += 1
                _LOG.warning("process %s: trigger condition could not be evaluated: %s",
                             process.name, exc)
                continue
            started.add(process.uid)
            self._admit(process, event, None)

    def _run_now(self, ref: str, event: Event, handle: RunHandle) -> None:
        process = self.processes.get(ref) or self._find_loaded(ref)
        if process is None:
            error = EngineError(f"process {ref!r} is not active on this station")
            handle.created.set_exception(error)
            handle.finished.set_exception(error)
            return
        event = replace(event, keys=frozenset({process.uid}))
        self._admit(process, event, handle)

    def _find_loaded(self, ref: str) -> CompiledProcess | None:
        for process in self.processes.values():
            if str(process.id) == ref or process.name == ref:
                return process
        return None

    # -- modes and limits ---------------------------------------------------------------------

    def _admit(self, process: CompiledProcess, event: Event, handle: RunHandle | None) -> None:
        if not self._rate.allow(process.uid):
            self._pause(process, f"fired more than {self.settings.rate_limit_per_minute} "
                                 "times in a minute")
            self._drop(process, event, handle, "process paused by the rate guard")
            return
        run = Run(process=process, event=event,
                  execution_uid=handle.execution_uid if handle is not None else "")
        if handle is not None:
            run.on_created.append(handle.created.set_result)
            run.on_finished.append(lambda r: handle.finished.set_result(r.status))
        active = self._runs.setdefault(process.uid, [])
        mode = process.mode
        if active and mode == "single":
            self._drop(process, event, handle, "mode single: the process is already running")
            return
        if active and mode == "restart":
            for old in list(active):
                self.runner.cancel(old, "mode restart: superseded by a newer run")
        if active and mode == "queued":
            waiting = self._queued.setdefault(process.uid, deque())
            if len(waiting) >= process.max:
                self._drop(process, event, handle, f"mode queued: {process.max} already queued")
                return
            self._enqueue(run, waiting)
            return
        if mode == "parallel" and len(active) >= process.max:
            self._drop(process, event, handle, f"mode parallel: {process.max} already running")
            return
        self._start(run)

    def _outbox(self, execution_id: int) -> None:
        """Queue the execution's state for central (inside the caller's transaction)."""
        if self.settings.outbox:
            store.outbox_execution(execution_id)

    def _enqueue(self, run: Run, waiting: deque[Run]) -> None:
        with database.atomic():
            execution = store.create_execution(run.process, run.event,
                                               self.services.station_id, "queued",
                                               uid=run.execution_uid or None)
            self._outbox(execution.id)
        run.execution_id, run.execution_uid, run.status = execution.id, execution.uid, "queued"
        for callback in run.on_created:
            callback(run.execution_id)
        run.on_created.clear()
        waiting.append(run)

    def _start(self, run: Run) -> None:
        if self._running >= self.settings.max_concurrent_executions:
            if len(self._slot_queue) >= self.settings.max_queued_executions:
                self._drop(run.process, run.event, None, "too many executions waiting")
                return
            if run.execution_id == 0:
                self._enqueue(run, self._slot_queue)
            else:
                self._slot_queue.append(run)
            return
        self._running += 1
        self._runs.setdefault(run.process.uid, []).append(run)
        self.stats["executions"] += 1
        if run.execution_id:
            with database.atomic():
                store.update_execution(run.execution_id, status="running")
            run.status = "running"
        self.runner.start(run)

    def _drop(self, process: CompiledProcess, event: Event, handle: RunHandle | None,
              reason: str) -> None:
        self.stats["dropped"] += 1
        with database.atomic():
            execution = store.create_execution(process, event, self.services.station_id,
                                               "dropped", reason,
                                               uid=handle.execution_uid or None if handle else None)
            store.add_log(execution.id, 1, f"not run: {reason}", "warning")
            self._outbox(execution.id)
        if handle is not None:
            handle.created.set_result(execution.id)
            handle.finished.set_result("dropped")

    def run_finished(self, run: Run) -> None:
        active = self._runs.get(run.process.uid, [])
        if run in active:
            active.remove(run)
            self._running -= 1
        for callback in (*run.on_finished, *self.on_finished):
            callback(run)
        run.on_finished.clear()
        waiting = self._queued.get(run.process.uid)
        if waiting and not active:
            self._start(waiting.popleft())
        while self._slot_queue and self._running < self.settings.max_concurrent_executions:
            self._start(self._slot_queue.popleft())

    def _pause(self, process: CompiledProcess, reason: str) -> None:
        self.stats["paused"] += 1
        _LOG.warning("process %s paused: %s", process.name, reason)
        with database.atomic():
            Process.update(paused=True, pause_reason=reason, updated_at=utcnow()).where(
                Process.id == process.id).execute()
            events = self.system_alert(f"Process '{process.name}' paused", reason,
                                       severity="warning", source_ref=process.uid,
                                       chain=(process.uid,))
        self._unload(process.uid)
        self.deliver(events)

    def set_paused(self, process_uid: str, paused: bool, reason: str = "") -> None:
        """Pause or resume a process (a command from central or the command line)."""
        with database.atomic():
            Process.update(paused=paused, pause_reason=reason or None, updated_at=utcnow()) \
                .where(Process.uid == process_uid).execute()
        self._rate.forget(process_uid)
        self.reload([process_uid])

    def system_alert(self, title: str, message: str, *, severity: str, source_ref: str,
                     chain: tuple[str, ...]) -> list[Event]:
        alerts = self.services.modules.get("alerts")
        if alerts is None:
            return []
        _alert, event = alerts.create(title=title, message=message, severity=severity,
                                      source="system", source_ref=source_ref)
        return [replace(event, chain=chain)]

    # -- external actions ---------------------------------------------------------------------

    def run_external(self, run: Run, token: int, action: CompiledAction, ctx: ActionContext,
                     config: dict[str, Any]) -> None:
        future = self._pool.submit(action.action.run, ctx, config)

        def finished(f: Future[dict[str, Any]]) -> None:
            try:
                self._inbox.put(("done", run, token, f.result(), None))
            except ActionFailed as exc:
                self._inbox.put(("done", run, token, None, exc))
            except Exception as exc:  # noqa: BLE001 - reported as the attempt's failure
                self._inbox.put(("done", run, token, None,
                                 ActionFailed(f"{type(exc).__name__}: {exc}")))

        future.add_done_callback(finished)
        timeout = action.timeout_seconds
        self.call_later(timeout, lambda: self.runner.external_done(
            run, token, None, ActionFailed(f"timed out after {timeout} s")))

    # -- loading definitions ------------------------------------------------------------------

    def reload(self, uids: list[str] | None = None) -> None:
        """(Re)load active processes from the database: all, or the given uids."""
        query = (Process.select(Process, ProcessVersion.definition)
                 .join(ProcessVersion, on=((ProcessVersion.process == Process.id)
                                           & (ProcessVersion.version == Process.version))))
        if uids is not None:
            query = query.where(Process.uid.in_(uids))
            for uid in uids:
                self._unload(uid)
        else:
            for uid in list(self.processes):
                self._unload(uid)
        actions = ProcessAction.select(ProcessAction.uid, ProcessAction.id)
        if uids is not None:  # only the reloaded processes' actions, not the whole table
            actions = actions.join(Process).where(Process.uid.in_(uids))
        action_ids = {a.uid: a.id for a in actions}
        latest = self._definitions_seen
        for process in query.objects():
            latest = max(latest or process.updated_at, process.updated_at)
            if not process.is_active or process.deleted or process.paused \
                    or not runs_on(process.stations, self.services.station_id):
                continue
            try:
                compiled = compile_process(process.id, process.definition, action_ids)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - an invalid process degrades, never the agent
                _LOG.exception("process %s could not be loaded", process.name)
                continue
            self._load(compiled)
        self._definitions_seen = latest

    def _load(self, process: CompiledProcess) -> None:
        self.processes[process.uid] = process
        self.index.add(process)
        detaches = []
        ctx = TriggerContext(self.services, self.scheduler, self.submit)
        for trigger in process.triggers:
            try:
                detach = trigger.trigger.attach(ctx)
            except Exception:  # noqa: BLE001 - a failed attach is logged, others continue
                _LOG.exception("process %s: trigger %s could not attach", process.name,
                               trigger.type_name)
                continue
            if detach is not None:
                detaches.append(detach)
        self._detach[process.uid] = detaches

    def _unload(self, uid: str) -> None:
        if self.processes.pop(uid, None) is not None:
            self.index.remove(uid)
        for detach in self._detach.pop(uid, []):
            detach()

    def _poll_definitions(self) -> None:
        latest = Process.select(fn.MAX(Process.updated_at)).scalar()
        if latest is None or (self._definitions_seen and latest <= self._definitions_seen):
            return
        changed = [p.uid for p in Process.select(Process.uid).where(
            Process.updated_at > (self._definitions_seen or dt.datetime.min))]
        self.reload(changed)

    # -- after a restart ----------------------------------------------------------------------

    def recover(self) -> None:
        """Resume every execution a crash or power loss left unfinished."""
        unfinished = (ProcessExecution.select()
                      .where(ProcessExecution.status.in_(("running", "waiting", "queued"))
                             & (ProcessExecution.station_id == self.services.station_id))
                      .order_by(ProcessExecution.id))
        compiled: dict[tuple[int, int], CompiledProcess] = {}
        for execution in unfinished:
            key = (execution.process_id, execution.process_version)
            try:
                if key not in compiled:
                    row = ProcessVersion.get((ProcessVersion.process == key[0])
                                             & (ProcessVersion.version == key[1]))
                    compiled[key] = compile_process(key[0], row.definition)
                self._recover_one(execution, compiled[key])
            except Exception:  # noqa: BLE001
                _LOG.exception("execution %s could not be resumed", execution.id)
                with database.atomic():
                    store.finish_execution(execution.id, execution.process_id, "interrupted",
                                           "could not be resumed after a restart", 0, 0)
                    self._outbox(execution.id)

    def _recover_one(self, execution: ProcessExecution, process: CompiledProcess) -> None:
        event = Event.from_record(execution.trigger_event or {})
        run = restore_run(execution, process, event)
        run.log_seq = ProcessExecutionLog.select(fn.MAX(ProcessExecutionLog.seq)).where(
            ProcessExecutionLog.execution == execution.id).scalar() or 0
        if execution.status == "queued":
            if self._runs.get(process.uid):
                self._queued.setdefault(process.uid, deque()).append(run)
            else:
                self._start(run)
            return
        rows = list(ProcessExecutionStep.select().where(
            ProcessExecutionStep.execution == execution.id).order_by(ProcessExecutionStep.id))
        for action in process.actions:
            mine = [r for r in rows if r.action_order == action.order]
            last = mine[-1] if mine else None
            if last is not None and last.status in ("completed", "skipped"):
                run.steps[str(action.order)] = {"status": last.status, "result": last.result,
                                                "error": last.error_message}
                run.steps_completed += last.status == "completed"
                run.index += 1
                continue
            run.attempt = len(mine)
            self._resume_at_step(run, execution, action, last)
            return
        self._resume(run, lambda: self.runner.start(run))

    def _resume_at_step(self, run: Run, execution: ProcessExecution, action: CompiledAction,
                        last: ProcessExecutionStep | None) -> None:
        effect = action.action.effect
        wait = 0.0
        if execution.resume_at is not None:
            wait = max(0.0, (execution.resume_at - utcnow()).total_seconds())
        if last is not None and last.status == "running":
            if effect == "delay":
                run.step_id, run.step_started, run.attempt = last.id, last.started_at, last.retry_count
                token = run.token
                self._resume(run, lambda: self.call_later(
                    wait, lambda: self.runner.resume_after_wait(run, token)))
                return
            safe = action.action.repeat_safe
            with database.atomic():
                store.update_step(last.id, status="failed", completed_at=utcnow(),
                                  error_message="interrupted by a restart")
                store.add_log(execution.id, run.log_seq + 1,
                              f"step {action.order} ({action.type_name}) interrupted by a "
                              "restart" + ("; repeating it" if safe else
                                           "; not safe to repeat"), "warning", action.order)
                run.log_seq += 1
                if not safe:
                    store.finish_execution(execution.id, run.process.id, "interrupted",
                                           f"actions[{action.index}] ({action.type_name}) was "
                                           "interrupted and is not safe to repeat",
                                           0, run.steps_completed)
                    self._outbox(execution.id)
                    return
        token = run.token
        self._resume(run, lambda: self.call_later(
            wait, lambda: self.runner.resume_after_wait(run, token)))

    def _resume(self, run: Run, go: Callable[[], None]) -> None:
        self._running += 1
        self._runs.setdefault(run.process.uid, []).append(run)
        go()


def wait_for(future: Future[Any], timeout: float) -> Any:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise EngineError(f"no answer from the engine within {timeout} s") from None
