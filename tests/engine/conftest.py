"""The engine tests' own types are registered around every test in this folder."""

from tests.engine.engine_types import test_types

__all__ = ["test_types"]
