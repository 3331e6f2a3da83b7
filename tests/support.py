"""Helpers for tests: waiting on conditions, free ports, engines. Import as tests.support."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from agent.core.ids import HybridClock
from agent.engine.context import Services
from agent.engine.engine import Engine, EngineSettings
from agent.modules.alerts import AlertService

REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> NoReturn:
    """Something the set-up provides (a tool, PostgreSQL, Chromium) is missing: under CI,
    where scripts/install provides it, the test fails; elsewhere it is skipped, with the
    reason printed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: scripts/install provides it, these tests must run)")
    print(f"skipping: {reason}")
    pytest.skip(reason)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_engine(station_id: str = "test-station", **settings: Any) -> Engine:
    clock = HybridClock(station_id)
    services = Services(station_id=station_id, clock=clock)
    services.modules["alerts"] = AlertService(station_id, clock)
    defaults: dict[str, Any] = {"retry_backoff_seconds": 0.05, "definitions_poll_seconds": 0.2}
    defaults.update(settings)
    return Engine(services, EngineSettings(**defaults))




def prometheus_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus text exposition as (sample name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
