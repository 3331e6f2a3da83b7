"""Fixtures shared across the suite: a station database, an engine, waiting helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.db import open_and_migrate
from agent.core.models import database
from agent.engine.engine import Engine
from tests.support import REPO, free_port, make_engine, wait_until

__all__ = ["REPO", "free_port", "make_engine", "wait_until"]


@pytest.fixture
def station_db(tmp_path: Path) -> Iterator[Path]:
    """A fresh, migrated station database bound to the shared models."""
    path = tmp_path / "station.db"
    db = open_and_migrate(str(path))
    yield path
    db.close()


@pytest.fixture
def engine_factory(station_db: Path) -> Iterator[Callable[..., Engine]]:
    """Start engines on the station database; all are stopped at the end of the test."""
    started: list[Engine] = []

    def start(**settings: Any) -> Engine:
        engine = make_engine(**settings)
        engine.start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()
    database.connect(reuse_if_open=True)
