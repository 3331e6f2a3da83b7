"""Fixtures of the station-module tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core.models import database
from tests.modules.modules_support import Station, start_station


@pytest.fixture
def station(station_db: Path) -> Iterator[Station]:
    """An engine with every station module installed, on a fresh station database."""
    started = start_station()
    yield started
    started.engine.stop()
    database.connect(reuse_if_open=True)
