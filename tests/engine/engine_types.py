"""Test-only trigger and action types for the engine tests (registered by the fixture)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from agent import definitions
from agent.engine.context import ActionContext
from agent.engine.events import Event
from agent.engine.registry import (
    ACTION_TYPES,
    TRIGGER_TYPES,
    ActionFailed,
    ActionType,
    TriggerType,
    load_builtin_types,
)


class PingTrigger(TriggerType):
    type_name = "test_ping"
    description = "test: a ping event"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object",
                                               "properties": {"topic": {"type": "string"}}}

    def index_keys(self) -> frozenset[str] | None:
        return frozenset({self.config["topic"]}) if "topic" in self.config else None


class FlakyAction(ActionType):
    """Fails its first ``fail_times`` attempts."""

    type_name = "test_flaky"
    description = "test: fails N times"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object",
                                               "properties": {"fail_times": {"type": ["integer", "string"]}}}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        if ctx.attempt < int(config.get("fail_times", 0)):
            raise ActionFailed(f"flaky failure {ctx.attempt + 1}")
        return {"attempt": ctx.attempt}


class SlowAction(ActionType):
    """An external action that sleeps; records when it really finished."""

    type_name = "test_slow"
    description = "test: sleeps on a worker thread"
    effect = "external"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object",
                                               "properties": {"seconds": {"type": "number"}}}
    finished: ClassVar[list[str]] = []

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        time.sleep(config.get("seconds", 0))
        self.finished.append(ctx.execution_uid)
        return {"slept": config.get("seconds", 0)}


class UnsafeSlowAction(SlowAction):
    type_name = "test_unsafe_slow"
    repeat_safe = False


class PingAction(ActionType):
    """Emits a test_ping event (to build causal chains)."""

    type_name = "test_emit_ping"
    description = "test: emits a ping"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object",
                                               "properties": {"topic": {"type": "string"}}}

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        topic = config.get("topic", "")
        ctx.emit("test_ping", {"topic": topic}, frozenset({topic}) if topic else frozenset())
        return {"emitted": topic}


TEST_TRIGGERS = (PingTrigger,)
TEST_ACTIONS = (FlakyAction, SlowAction, UnsafeSlowAction, PingAction)
_lock = threading.Lock()


def _clear_caches() -> None:
    definitions.definition_schema.cache_clear()
    definitions._validator.cache_clear()


@pytest.fixture(autouse=True)
def test_types() -> Iterator[None]:
    load_builtin_types()
    with _lock:
        for t in TEST_TRIGGERS:
            TRIGGER_TYPES[t.type_name] = t
        for a in TEST_ACTIONS:
            ACTION_TYPES[a.type_name] = a
        _clear_caches()
    yield
    with _lock:
        for t in TEST_TRIGGERS:
            TRIGGER_TYPES.pop(t.type_name, None)
        for a in TEST_ACTIONS:
            ACTION_TYPES.pop(a.type_name, None)
        _clear_caches()


def ping(topic: str = "") -> Event:
    return Event(type="test_ping", data={"topic": topic}, source="test",
                 keys=frozenset({topic}) if topic else frozenset())
