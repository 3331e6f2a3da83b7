"""Process definitions compiled for the engine: trigger objects, checkers, action objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.engine.conditions import Checker, compile_condition
from agent.engine.registry import ACTION_TYPES, TRIGGER_TYPES, ActionType, TriggerType


@dataclass(frozen=True)
class CompiledTrigger:
    uid: str
    type_name: str
    trigger: TriggerType
    check: Checker
    priority: int


@dataclass(frozen=True)
class CompiledAction:
    uid: str
    id: int  # process_actions.id, 0 when the row is gone (an old version)
    order: int
    index: int
    type_name: str
    action: ActionType
    config: dict[str, Any]  # templates, rendered per run
    check: Checker
    has_conditions: bool
    timeout_seconds: int
    retry_count: int


@dataclass(frozen=True)
class CompiledProcess:
    id: int
    uid: str
    name: str
    version: int
    mode: str
    max: int
    triggers: tuple[CompiledTrigger, ...]
    actions: tuple[CompiledAction, ...]


def compile_process(
    process_id: int, definition: dict[str, Any], action_ids: dict[str, int] | None = None
) -> CompiledProcess:
    """Compile a stored (already validated) definition."""
    uid = definition["uid"]
    triggers = tuple(
        CompiledTrigger(
            uid=t["uid"],
            type_name=t["trigger_type"],
            trigger=TRIGGER_TYPES[t["trigger_type"]](
                t["trigger_config"], process_uid=uid, trigger_uid=t["uid"]
            ),
            check=compile_condition(t.get("conditions"), f"triggers[{i}].conditions"),
            priority=t.get("priority", 0),
        )
        for i, t in enumerate(definition["triggers"])
        if t.get("is_active", True)
    )
    actions = tuple(
        CompiledAction(
            uid=a["uid"],
            id=(action_ids or {}).get(a["uid"], 0),
            order=a["action_order"],
            index=i,
            type_name=a["action_type"],
            action=ACTION_TYPES[a["action_type"]](),
            config=a["action_config"],
            check=compile_condition(a.get("conditions"), f"actions[{i}].conditions"),
            has_conditions=bool(a.get("conditions")),
            timeout_seconds=a.get("timeout_seconds", 30),
            retry_count=a.get("retry_count", 0),
        )
        for i, a in enumerate(definition["actions"])
    )
    return CompiledProcess(
        id=process_id,
        uid=uid,
        name=definition["name"],
        version=definition.get("version", 1),
        mode=definition.get("mode", "single"),
        max=definition.get("max", 10),
        triggers=triggers,
        actions=actions,
    )


class TriggerIndex:
    """Candidate triggers by event type and key: matching costs the same with 10 or 10,000."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str | None, list[tuple[CompiledProcess, CompiledTrigger]]]] \
            = {}

    def add(self, process: CompiledProcess) -> None:
        for t in process.triggers:
            slots = self._by_type.setdefault(t.trigger.listens_to(), {})
            keys = t.trigger.index_keys()
            for key in keys if keys is not None else (None,):
                slots.setdefault(key, []).append((process, t))

    def remove(self, process_uid: str) -> None:
        for slots in self._by_type.values():
            for key in list(slots):
                slots[key] = [(p, t) for p, t in slots[key] if p.uid != process_uid]
                if not slots[key]:
                    del slots[key]

    def candidates(self, event_type: str, keys: frozenset[str]) \
            -> list[tuple[CompiledProcess, CompiledTrigger]]:
        slots = self._by_type.get(event_type)
        if not slots:
            return []
        found = list(slots.get(None, ()))
        for key in keys:
            found += slots.get(key, ())
        return found
