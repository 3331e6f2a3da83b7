"""What triggers and actions are handed: the station's services and the run they are part of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.core.ids import HybridClock
from agent.engine.events import Event


@dataclass
class Services:
    """The station's modules, as actions and domain conditions reach them.

    ``modules`` maps a module name (alerts, radio, zones, users, bots, notifications...) to its
    service object; ``get`` names what is missing when an action needs a module that this
    station (or central) does not run.
    """

    station_id: str
    clock: HybridClock
    submit: Callable[[Event], None] = lambda event: None
    modules: dict[str, Any] = field(default_factory=dict)
    # Module hooks: called on the engine thread, inside a transaction, for every event of
    # the type, before triggers are matched; they may write the database and return events
    # they cause (a position -> zone_entry). See Engine._dispatch.
    observers: dict[str, list[Callable[[Event], list[Event]]]] = field(default_factory=dict)
    engine: Any = None  # the Engine, for call / call_later from modules

    def observe(self, event_type: str, hook: Callable[[Event], list[Event]]) -> None:
        self.observers.setdefault(event_type, []).append(hook)

    def get(self, name: str) -> Any:
        try:
            return self.modules[name]
        except KeyError:
            from agent.engine.registry import ActionFailed

            raise ActionFailed(f"module {name!r} is not available here", retryable=False) \
                from None


@dataclass
class TriggerContext:
    services: Services
    scheduler: Any  # apscheduler BackgroundScheduler
    submit: Callable[[Event], None]


@dataclass
class ActionContext:
    services: Services
    execution_id: int
    execution_uid: str
    process_uid: str
    process_name: str
    action_order: int
    attempt: int
    variables: dict[str, Any]
    chain: tuple[str, ...]  # the causal chain for events this action causes
    log: Callable[[str, str], None]  # (level, message): a line in the execution log
    emitted: list[Event] = field(default_factory=list)

    def emit(self, event_type: str, data: dict[str, Any], keys: frozenset[str] = frozenset()) \
            -> None:
        """Announce something this action did; delivered once the step is committed."""
        self.emitted.append(
            Event(
                type=event_type,
                data=data,
                source="process",
                keys=keys,
                chain=self.chain,
                triggered_by=f"process:{self.process_uid}",
            )
        )
