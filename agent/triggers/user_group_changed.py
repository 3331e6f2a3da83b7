"""user_group_changed: a user was added to or removed from groups (keyed by group name)."""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType, register_trigger
from agent.modules.users import group_key


@register_trigger
class UserGroupChangedTrigger(TriggerType):
    type_name = "user_group_changed"
    description = "A user joined or left groups; filter by group and by added or removed"
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "group": {"type": "string", "minLength": 1, "maxLength": 100,
                      "description": "only changes of this group; absent: any"},
            "change": {"enum": ["added", "removed", "any"], "default": "any"},
            "user": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"group": "medics", "change": "added"}

    def index_keys(self) -> frozenset[str] | None:
        group = self.config.get("group")
        return frozenset({group_key(group)}) if group else None

    def matches(self, event: Event) -> bool:
        change = self.config.get("change", "any")
        lists = ("added", "removed") if change == "any" else (change,)
        names = [n for key in lists for n in (event.data.get(key) or []) if isinstance(n, str)]
        if not names:
            return False
        group = self.config.get("group")
        if group is not None and group_key(group) not in {group_key(n) for n in names}:
            return False
        user = self.config.get("user")
        return user is None or str(event.data.get("user") or "").casefold() == user.casefold() \
            or event.data.get("user_uid") == user
