"""``POST /api/processes/try-run``: "test this process" before saving it.

Body ``{"definition": {...}, "event": {"type": "message_received", "data": {...}}}``.
The definition is validated as saving would (400 with every problem at its path), then run
by the real engine (agent.engine.engine.Engine) against a temporary SQLite database in a
temporary folder, in a child process (``python -m central.api.web_tryrun``):

- a child process, because the shared models are bound to one database per OS process
  (central's own) and a run must never touch it; the child binds them to its throw-away file,
  which is deleted with its folder afterwards;
- the station modules are the real ones (station id ``try-run``), on an empty database;
- actions that need the radio (``needs_radio``), that act outside the database (effect
  ``external``) or that wait (``delay``) are not run: in the child only, their registry entry
  is replaced by a stand-in that records what it would do ("would send ..."), with the config
  as rendered for this event; everything else runs for real, in the throw-away database;
- the event goes through the engine like an adapter's would (module hooks, trigger index,
  trigger conditions) when one of the process's triggers accepts it; otherwise the actions
  are run as a manual run with the event's data, and the answer says so.

The answer: which triggers would start it and why not, the execution, each step attempt with
its result or error, the log lines, and what the run left behind (alerts, mesh messages).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from bottle import Bottle

from agent.core.db import open_and_migrate
from agent.core.ids import HybridClock
from agent.core.models import (
    FINISHED_STATUSES,
    Alert,
    ProcessExecution,
    ProcessExecutionLog,
    ProcessExecutionStep,
)
from agent.core.station_models import OutboundMessage
from agent.engine.compiled import compile_process
from agent.engine.conditions import ConditionContext, ConditionError
from agent.engine.context import ActionContext, Services
from agent.engine.engine import Engine, EngineSettings
from agent.engine.events import Event
from agent.engine.registry import ACTION_TYPES, ActionType, load_builtin_types
from agent.modules import install_modules
from agent.processes import definition_of, save_process
from central.api._common import Api, ApiError, Request
from central.api._schemas import obj
from central.api.processes import check_definition
from central.context import CentralContext
from central.views import execution_view, log_view, step_view

STATION = "try-run"
RUN_SECONDS = 15.0  # how long the child waits for the execution to finish
CHILD_TIMEOUT_SECONDS = 60.0
MAX_PARALLEL = 2


def run_in_child(request: dict[str, Any], timeout: float = CHILD_TIMEOUT_SECONDS) \
        -> dict[str, Any]:
    """Run ``request`` in ``python -m central.api.web_tryrun``; its JSON answer."""
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ApiError(504, f"the test run took longer than {timeout:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ApiError(500, f"the test run failed: {last[:300]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="processes")
    slots = threading.BoundedSemaphore(MAX_PARALLEL)
    api.schema("TryRunRequest", obj({
        "definition": {"type": "object"},
        "event": obj({"type": {"type": "string", "minLength": 1, "maxLength": 100},
                      "data": {"type": "object"}}, required=[], additionalProperties=False),
    }, required=["definition"], additionalProperties=False))
    api.schema("TryRunResult", obj({
        "triggers": {"type": "array", "items": {"type": "object"}},
        "execution": {"type": "object"},
        "steps": {"type": "array", "items": {"type": "object"}},
        "logs": {"type": "array", "items": {"type": "object"}},
        "effects": {"type": "array", "items": {"type": "object"}},
        "notes": {"type": "array", "items": {"type": "string"}},
    }))

    @api.post("/api/processes/try-run", "processes:create",
              "Test a process definition against a sample event, without saving it",
              body="TryRunRequest", response="TryRunResult", errors=(429, 504),
              description="Runs in a throw-away database; radio, external and delay actions "
                          "are recorded as what they would do.")
    def try_run(req: Request) -> dict[str, Any]:
        definition = check_definition(req.body["definition"])
        event = req.body.get("event") or {}
        if not slots.acquire(blocking=False):
            raise ApiError(429, "test runs are busy: try again in a moment")
        try:
            return run_in_child({"definition": definition, "event": event,
                                 "triggered_by": req.actor})
        finally:
            slots.release()


# -- the child process ----------------------------------------------------------------------


def _install_stand_ins() -> None:
    """Replace radio, external and delay action types by stand-ins (this process only)."""
    def stand_in(real: type[ActionType]) -> type[ActionType]:
        if real.needs_radio:
            verb = "send over the radio"
        elif real.effect == "delay":
            verb = "wait"
        else:
            verb = "act outside the station"

        class StandIn(real):  # type: ignore[valid-type,misc]
            effect: ClassVar[str] = "local"
            repeat_safe: ClassVar[bool] = True

            def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
                would = f"would {verb} ({real.type_name}): " \
                        + json.dumps(config, ensure_ascii=False, default=str)[:500]
                ctx.log("info", f"test run: {would}")
                return {"dry_run": True, "would": would, "config": config}

        StandIn.__name__ = f"StandIn{real.__name__}"
        return StandIn

    for name, cls in list(ACTION_TYPES.items()):
        if cls.needs_radio or cls.effect != "local":
            ACTION_TYPES[name] = stand_in(cls)


def _trigger_report(process: Any, definition: dict[str, Any], event: Any, services: Any) \
        -> list[dict[str, Any]]:
    compiled = compile_process(process.id, definition)
    by_uid = {t.uid: t for t in compiled.triggers}
    variables = {"event": event.as_variables(),
                 "process": {"id": process.id, "uid": process.uid, "name": process.name},
                 "station": {"id": STATION}}
    report = []
    for index, item in enumerate(definition["triggers"]):
        entry: dict[str, Any] = {"index": index, "trigger_type": item["trigger_type"],
                                 "matched": False, "reason": None, "keys": []}
        trigger = by_uid.get(item["uid"])
        if trigger is None:
            entry["reason"] = "inactive"
        elif trigger.trigger.listens_to() != event.type:
            entry["reason"] = f"listens to {trigger.trigger.listens_to()} events"
        elif not trigger.trigger.matches(event):
            entry["reason"] = "the event does not match its settings"
        else:
            try:
                holds = trigger.check(ConditionContext(variables, services))
                entry["matched"] = holds
                entry["reason"] = None if holds else "its conditions are false for this event"
            except ConditionError as exc:
                entry["reason"] = f"its conditions cannot be evaluated: {exc}"
            entry["keys"] = sorted(trigger.trigger.index_keys() or [])
        report.append(entry)
    return report


def _wait_finished(process_id: int, seconds: float) -> ProcessExecution | None:
    deadline = time.monotonic() + seconds
    row: ProcessExecution | None = None
    e = ProcessExecution
    while time.monotonic() < deadline:
        row = e.select().where(e.process_id == process_id).order_by(e.id.desc()).first()
        if row is not None and row.status in FINISHED_STATUSES:
            return row
        time.sleep(0.05)
    return row


def run_try(definition: dict[str, Any], event_in: dict[str, Any], triggered_by: str,
            folder: Path) -> dict[str, Any]:
    """Run ``definition`` for one event in a new database under ``folder`` (child only)."""
    db = open_and_migrate(str(folder / "try-run.db"))
    load_builtin_types()
    _install_stand_ins()
    services = Services(station_id=STATION, clock=HybridClock(STATION))
    install_modules(services)
    definition = {**definition, "stations": ["*"], "is_active": True}
    definition.pop("template_id", None)
    process = save_process(definition)
    stored = definition_of(process)
    event = Event(type=str(event_in.get("type") or "manual"), data=dict(event_in.get("data") or {}),
                  source="try-run", triggered_by=triggered_by)
    triggers = _trigger_report(process, stored, event, services)
    notes: list[str] = []
    settings = EngineSettings(retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2,
                              execution_timeout_seconds=RUN_SECONDS, alert_on_failure=False,
                              definitions_poll_seconds=3600.0)
    engine = Engine(services, settings, scheduler=None)
    engine.start(recover=False)
    try:
        matched = next((t for t in triggers if t["matched"]), None)
        if matched is not None:
            keys = frozenset(matched["keys"][:1])
            engine.submit(Event(type=event.type, data=event.data, source="try-run", keys=keys,
                                triggered_by=triggered_by))
        else:
            notes.append("No trigger would start this process for this event: its actions "
                         "were run as a manual run with the event's data.")
            engine.run_process(process.uid, event.data, triggered_by=triggered_by,
                               source="try-run")
        engine.call(lambda: None).result(timeout=RUN_SECONDS)
        row = _wait_finished(process.id, RUN_SECONDS)
    finally:
        engine.stop()
    db.connect(reuse_if_open=True)
    if row is None:
        return {"triggers": triggers, "execution": {"status": "not started"}, "steps": [],
                "logs": [], "effects": [], "notes": [*notes, "The engine did not start it."]}
    row = ProcessExecution.get_by_id(row.id)
    if row.status in ("running", "waiting", "queued"):
        notes.append(f"Still {row.status} after {RUN_SECONDS:g} s: the test stopped there.")
    steps = []
    for step in ProcessExecutionStep.select().where(ProcessExecutionStep.execution == row.id) \
            .order_by(ProcessExecutionStep.id):
        view = step_view(step)
        result = view["result"] if isinstance(view["result"], dict) else {}
        view["dry_run"] = bool(result.get("dry_run"))
        view["would"] = result.get("would")
        steps.append(view)
    logs = [log_view(g) for g in ProcessExecutionLog.select()
            .where(ProcessExecutionLog.execution == row.id).order_by(ProcessExecutionLog.seq)]
    effects = [{"kind": "alert", "severity": a.severity, "title": a.title, "message": a.message}
               for a in Alert.select().order_by(Alert.id)]
    effects += [{"kind": "mesh message", "to": m.destination, "text": m.text}
                for m in OutboundMessage.select().order_by(OutboundMessage.id)]
    execution = execution_view(row, process.name)
    execution.pop("trigger_event", None)
    return {"triggers": triggers, "execution": execution, "steps": steps, "logs": logs,
            "effects": effects, "notes": notes}


def main() -> int:
    request = json.loads(sys.stdin.read())
    with tempfile.TemporaryDirectory(prefix="firefly-try-run-") as folder:
        result = run_try(request["definition"], request.get("event") or {},
                         str(request.get("triggered_by") or "try-run"), Path(folder))
    sys.stdout.write(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
