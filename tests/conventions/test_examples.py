"""The example processes (used by the demo and the docs) are valid definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.definitions import validate_definition

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.process.json"))


def test_there_are_examples_for_the_field_scenarios() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_a_valid_definition(path: Path) -> None:
    definition = validate_definition(json.loads(path.read_text()))
    assert definition["name"]
