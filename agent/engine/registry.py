"""The registries of trigger types and action types.

Each type is a class in its own module under agent/triggers/ or agent/actions/, registered with
``@register_trigger`` / ``@register_action`` and declaring the JSON Schema of its config. The
process-definition schema, the docs and the web builder's forms are all generated from these
classes: adding a type touches one module and its tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from agent.engine.events import Event

if TYPE_CHECKING:
    from agent.engine.context import ActionContext, TriggerContext


class TriggerType:
    """One trigger of one process: which events start it."""

    type_name: ClassVar[str]
    description: ClassVar[str]
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object"}
    # The event type this trigger listens to; defaults to type_name.
    event_type: ClassVar[str | None] = None
    # An example config for the reference docs and the builder.
    EXAMPLE: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any], *, process_uid: str, trigger_uid: str) -> None:
        self.config = config
        self.process_uid = process_uid
        self.trigger_uid = trigger_uid

    @classmethod
    def listens_to(cls) -> str:
        return cls.event_type or cls.type_name

    def index_keys(self) -> frozenset[str] | None:
        """Keys this trigger wants (an event must carry one), or None for every event."""
        return None

    def matches(self, event: Event) -> bool:
        """Finer filtering after the index lookup (text filters, sender...)."""
        return True

    def attach(self, ctx: TriggerContext) -> Callable[[], None] | None:
        """Start whatever produces this trigger's events (a schedule); return a detach."""
        return None


class ActionType:
    """One kind of action. ``run`` gets the config with templates already rendered."""

    type_name: ClassVar[str]
    description: ClassVar[str]
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object"}
    EXAMPLE: ClassVar[dict[str, Any]] = {}
    # local: its effects are writes to the station database, made in the engine's transaction
    #        together with the step record (atomic: exactly once, even across a power loss);
    # external: it acts outside the database (network...); it runs on a worker thread, its
    #        step is committed as running first, and after a crash it is repeated only if
    #        repeat_safe, else the execution is marked interrupted;
    # delay: the engine itself waits, durably (see actions/delay.py).
    effect: ClassVar[Literal["local", "external", "delay"]] = "local"
    repeat_safe: ClassVar[bool] = True
    # Needs the station's radio: a process with such an action cannot run at central.
    needs_radio: ClassVar[bool] = False

    def run(self, ctx: ActionContext, config: dict[str, Any]) -> dict[str, Any]:
        raise ActionFailed(f"{self.type_name} cannot run here")

    def validate_extra(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """Checks beyond the JSON Schema, as (path below action_config, reason) pairs."""
        return []


class ActionFailed(Exception):
    """An action attempt failed; the message is recorded in the step. Retried if attempts remain."""

    def __init__(self, message: str, *, retryable: bool = True, result: Any = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.result = result


TRIGGER_TYPES: dict[str, type[TriggerType]] = {}
ACTION_TYPES: dict[str, type[ActionType]] = {}

T = TypeVar("T", bound=type[TriggerType])
A = TypeVar("A", bound=type[ActionType])


def register_trigger(cls: T) -> T:
    TRIGGER_TYPES[cls.type_name] = cls
    return cls


def register_action(cls: A) -> A:
    ACTION_TYPES[cls.type_name] = cls
    return cls


# Built-in types register like extensions would: every module in these packages is imported.
TYPE_PACKAGES = ("agent.triggers", "agent.actions", "agent.conditions")


def load_builtin_types() -> None:
    for package_name in TYPE_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")
