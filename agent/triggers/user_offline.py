"""user_offline: a node has not been heard for radio.offline_after_seconds.

Event fields: node_id, num, name, user_uid, last_heard (ISO time), silent_seconds, battery.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agent.engine.registry import register_trigger
from agent.triggers._node_presence import PresenceTrigger


@register_trigger
class UserOfflineTrigger(PresenceTrigger):
    type_name = "user_offline"
    description = "A node went silent: not heard for radio.offline_after_seconds"
    EXAMPLE: ClassVar[dict[str, Any]] = {"node_id": "!a1b2c3d4"}
