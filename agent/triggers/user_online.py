"""user_online: a node that was offline is heard again (any packet).

Event fields: node_id, num, name, user_uid, last_heard (ISO time of the packet before the
silence), offline_seconds.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import register_trigger
from agent.triggers._node_presence import PresenceTrigger


@register_trigger
class UserOnlineTrigger(PresenceTrigger):
    type_name = "user_online"
    description = "A node that was offline is heard again"
    EXAMPLE: ClassVar[dict[str, Any]] = {}
