"""message_received: a text arrives over the mesh.

Filters (all optional, all must hold): ``command`` (the text's first word, exactly; the trigger
index is keyed by it, so matching stays O(1) however many command processes there are),
``contains`` (a substring, or any of several), ``regex`` (a search), ``from`` (sender node ids
or names), ``channel``, ``direct_only``. Case-insensitive unless ``case_sensitive``.

Event fields: text, from_id, from_name, from_num, to_id, direct, channel, snr, rssi, hops,
packet_id, rx_time (see docs/radio.md). Texts the station itself sent never arrive here.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from agent.engine.events import Event
from agent.engine.registry import TriggerType, register_trigger

_SHORT_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}


@register_trigger
class MessageReceivedTrigger(TriggerType):
    type_name = "message_received"
    description = ("A text arrives over the mesh (filters: command, contains, regex, from, "
                   "channel, direct_only)")
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "pattern": r"^\S{1,32}$",
                        "description": "the first word of the text, exactly (e.g. !sos)"},
            "contains": {"oneOf": [_SHORT_TEXT, {"type": "array", "items": _SHORT_TEXT,
                                                 "minItems": 1, "maxItems": 50}],
                         "description": "the text contains this (or any of these)"},
            "regex": {"type": "string", "minLength": 1, "maxLength": 500,
                      "description": "a regular expression found in the text"},
            "from": {"type": "array", "minItems": 1, "maxItems": 500,
                     "items": {"type": "string", "minLength": 1, "maxLength": 64},
                     "description": "sender node ids (!a1b2c3d4) or names"},
            "channel": {"type": "integer", "minimum": 0, "maximum": 7},
            "direct_only": {"type": "boolean", "description": "only direct messages to the "
                            "station, not channel broadcasts"},
            "case_sensitive": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    }
    EXAMPLE: ClassVar[dict[str, Any]] = {"contains": ["sos", "help"]}

    def __init__(self, config: dict[str, Any], *, process_uid: str, trigger_uid: str) -> None:
        super().__init__(config, process_uid=process_uid, trigger_uid=trigger_uid)
        self.case_sensitive = bool(config.get("case_sensitive", False))
        contains = config.get("contains")
        words = [contains] if isinstance(contains, str) else list(contains or [])
        self.contains = tuple(self._fold(w) for w in words)
        self.command = config.get("command")
        self.regex: re.Pattern[str] | None = None
        if config.get("regex"):
            try:
                self.regex = re.compile(config["regex"],
                                        0 if self.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"regex: invalid regular expression: {exc}") from None
        self.senders = frozenset(str(s).casefold() for s in config.get("from") or ())

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else text.casefold()

    def index_keys(self) -> frozenset[str] | None:
        return frozenset({self.command.casefold()}) if self.command else None

    def matches(self, event: Event) -> bool:
        data = event.data
        text = data.get("text")
        if not isinstance(text, str):
            return False
        if self.command is not None:
            words = text.split(maxsplit=1)
            first = words[0] if words else ""
            if self._fold(first) != self._fold(self.command):
                return False
        if self.contains and not any(w in self._fold(text) for w in self.contains):
            return False
        if self.regex is not None and self.regex.search(text) is None:
            return False
        if self.senders and str(data.get("from_id", "")).casefold() not in self.senders \
                and str(data.get("from_name", "")).casefold() not in self.senders:
            return False
        if "channel" in self.config and data.get("channel") != self.config["channel"]:
            return False
        return not (self.config.get("direct_only") and not data.get("direct"))
