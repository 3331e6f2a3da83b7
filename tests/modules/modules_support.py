"""Station-module test helpers: an engine with every module installed, and ways to drive it.

Import as tests.modules.modules_support; the fixture ``station`` is in conftest.py."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.core.models import ProcessExecution, ProcessExecutionStep, database
from agent.engine.engine import Engine, EngineSettings
from agent.engine.events import Event
from agent.processes import save_process
from agent.station import make_services
from tests.support import wait_until

T = TypeVar("T")

STATION = "field-1"
METRES_PER_DEGREE = 2 * math.pi * 6_371_008.8 / 360


def offset(lat: float, lon: float, north_m: float = 0.0, east_m: float = 0.0) \
        -> tuple[float, float]:
    """The point ``north_m`` and ``east_m`` metres from (lat, lon) (small distances)."""
    return (lat + north_m / METRES_PER_DEGREE,
            lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))))


@dataclass
class Station:
    """An engine with the station modules, and helpers run on its thread."""

    engine: Engine

    @property
    def modules(self) -> dict[str, Any]:
        return self.engine.services.modules

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the engine thread in a transaction; its events are delivered."""
        def run() -> T:
            with database.atomic():
                result = fn()
            events = _events_in(result)
            if events:
                self.engine.deliver(events)
            return result

        return self.engine.call(run).result(timeout=30)  # type: ignore[no-any-return]

    def settle(self) -> None:
        """Wait until every event submitted so far, and what it caused, was handled."""
        for _ in range(3):
            self.engine.call(lambda: None).result(timeout=30)

    def process(self, definition: dict[str, Any]) -> str:
        process = save_process(definition, origin=STATION)
        self.engine.call(lambda: self.engine.reload([process.uid])).result(timeout=30)
        return str(process.uid)

    def submit(self, event_type: str, data: dict[str, Any], **kw: Any) -> None:
        self.engine.submit(Event(type=event_type, data=data, source=kw.pop("source", "radio"),
                                 **kw))

    def executions(self, process_uid: str) -> list[ProcessExecution]:
        return self.engine.call(lambda: list(
            ProcessExecution.select().where(ProcessExecution.process_uid == process_uid)
            .order_by(ProcessExecution.id))).result(timeout=30)

    def wait_executions(self, process_uid: str, count: int, timeout: float = 20.0) \
            -> list[ProcessExecution]:
        """Wait for ``count`` finished executions of the process (then check no more came)."""
        def finished() -> list[ProcessExecution] | None:
            rows = [e for e in self.executions(process_uid)
                    if e.status not in ("running", "waiting", "queued")]
            return rows if len(rows) >= count else None

        rows = wait_until(finished, timeout=timeout,
                          message=f"{count} executions of {process_uid}")
        self.settle()
        return rows

    def steps(self, execution_id: int) -> list[ProcessExecutionStep]:
        return self.engine.call(lambda: list(
            ProcessExecutionStep.select().where(ProcessExecutionStep.execution == execution_id)
            .order_by(ProcessExecutionStep.id))).result(timeout=30)


def _events_in(result: Any) -> list[Event]:
    if isinstance(result, Event):
        return [result]
    if isinstance(result, tuple | list):
        return [e for item in result for e in _events_in(item)]
    return []


def start_station() -> Station:
    services = make_services(STATION)
    engine = Engine(services, EngineSettings(retry_backoff_seconds=0.05,
                                             definitions_poll_seconds=0.2))
    engine.start(recover=False)
    return Station(engine)


def manual(name: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "triggers": [{"trigger_type": "manual"}], "actions": actions,
            "mode": "queued", **extra}


def logging_process(name: str, trigger_type: str, config: dict[str, Any] | None = None,
                    conditions: Any = None) -> dict[str, Any]:
    """A process that only logs the event that started it."""
    return {"name": name, "mode": "queued", "max": 100,
            "triggers": [{"trigger_type": trigger_type, "trigger_config": config or {},
                          "conditions": conditions}],
            "actions": [{"action_type": "log", "action_config": {"message": "{{ event.type }}"}}]}


def now() -> float:
    return time.time()


__all__ = ["STATION", "Station", "logging_process", "manual", "now", "offset", "start_station"]
