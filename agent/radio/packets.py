"""Packet dicts from the meshtastic library -> events (pure: no I/O, no library import).

The library hands us ``MessageToDict`` output (camelCase keys, enum names as strings), and
proto3 omits defaults: ``channel`` is absent for channel 0, ``hopLimit`` when 0, a routing
``errorReason`` when NONE. ``fromId`` is None for a node not yet in the library's node DB, so
ids are derived from the numbers (``!%08x``). Everything here is defensive: a malformed packet
yields nothing, never an exception.

Per packet from another node: a ``node_heard`` event (the station's own last-heard clock, with
any position, telemetry or user info it carries) and, for a text, ``message_received`` - or
``mesh_command`` for ``!run``/``!status``/``!help`` sent directly to the station. A routing
packet answering one of ours becomes a ``RoutingOutcome`` for the outbound queue. Our own
packets, duplicates (same from and id) and echoes of texts we recently sent make no events.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.engine.events import Event

BROADCAST_NUM = 0xFFFFFFFF
BROADCAST_ID = "^all"
COMMAND_WORDS = frozenset({"!run", "!status", "!help"})
MAX_TEXT_CHARS = 1000  # a LoRa text is at most 233 bytes; anything longer is not from a radio
MAX_NAME_CHARS = 40
MAX_KEY_CHARS = 32


def node_id(num: int) -> str:
    return f"!{num:08x}"


def normalise_node(ref: Any) -> str | None:
    """``!A1B2C3D4``, ``a1b2c3d4`` (8 hex digits) or a decimal node number -> ``!a1b2c3d4``."""
    text = str(ref).strip().lower()
    hex_part = text.removeprefix("!")
    if len(hex_part) == 8 and all(c in "0123456789abcdef" for c in hex_part):
        return f"!{hex_part}"
    if text.isdigit() and int(text) <= 0xFFFFFFFF:
        return f"!{int(text):08x}"
    return None


def first_word(text: str) -> str:
    """The index key of a text: its first word, lower-cased (``"SOS now"`` -> ``"sos"``)."""
    words = text.split(maxsplit=1)
    return words[0].casefold()[:MAX_KEY_CHARS] if words else ""


@dataclass(frozen=True)
class RoutingOutcome:
    """A routing ACK (reason NONE) or NAK for the packet ``request_id`` we sent."""

    request_id: int
    reason: str
    from_num: int


@dataclass
class Parsed:
    events: list[Event] = field(default_factory=list)
    routing: RoutingOutcome | None = None


class Deduper:
    """Remembers the last ``size`` (from, id) pairs: a packet heard twice counts once."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()

    def seen(self, from_num: int, packet_id: int) -> bool:
        key = (from_num, packet_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False


class RecentTexts:
    """Texts this station sent recently (thread-safe): heard back, they trigger nothing."""

    def __init__(self, ttl: float = 600.0, size: int = 1000) -> None:
        self.ttl = ttl
        self.size = size
        self._texts: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, text: str, now: float | None = None) -> None:
        with self._lock:
            self._texts[text] = time.time() if now is None else now
            self._texts.move_to_end(text)
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)

    def contains(self, text: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            at = self._texts.get(text)
            return at is not None and now - at <= self.ttl


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:MAX_NAME_CHARS] or None


def _text(decoded: dict[str, Any]) -> str | None:
    text = decoded.get("text")
    if not isinstance(text, str):
        payload = decoded.get("payload")
        if not isinstance(payload, bytes | bytearray):
            return None
        text = bytes(payload).decode("utf-8", errors="replace")
    return text.replace("\x00", "")[:MAX_TEXT_CHARS]


def _position(decoded: dict[str, Any]) -> dict[str, Any] | None:
    pos = _dict(decoded.get("position"))
    lat_i, lon_i = _int(pos.get("latitudeI")), _int(pos.get("longitudeI"))
    if lat_i is not None and lon_i is not None:
        lat, lon = lat_i * 1e-7, lon_i * 1e-7
    else:
        lat_f, lon_f = _float(pos.get("latitude")), _float(pos.get("longitude"))
        if lat_f is None or lon_f is None:
            return None  # no fix: proto3 omits zero coordinates
        lat, lon = lat_f, lon_f
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        return None
    return {"lat": round(lat, 7), "lon": round(lon, 7),
            "altitude": _float(pos.get("altitude")), "time": _int(pos.get("time"))}


def _telemetry(decoded: dict[str, Any]) -> dict[str, Any] | None:
    metrics = _dict(_dict(decoded.get("telemetry")).get("deviceMetrics"))
    battery, voltage = _int(metrics.get("batteryLevel")), _float(metrics.get("voltage"))
    if battery is not None and not 0 <= battery <= 101:
        battery = None
    if voltage is not None and not 0.0 <= voltage <= 100.0:
        voltage = None
    if battery is None and voltage is None:
        return None
    return {"battery": battery, "voltage": voltage}


def _user(decoded: dict[str, Any]) -> dict[str, Any] | None:
    user = _dict(decoded.get("user"))
    long_name, short_name = _name(user.get("longName")), _name(user.get("shortName"))
    if long_name is None and short_name is None:
        return None
    return {"long_name": long_name, "short_name": short_name}


def parse_packet(
    packet: Any,
    *,
    my_num: int | None,
    names: Mapping[int, str] | None = None,
    dedupe: Deduper | None = None,
    is_echo: Callable[[str], bool] | None = None,
    now: float | None = None,
) -> Parsed:
    """Turn one packet dict into events (see the module docstring)."""
    out = Parsed()
    if not isinstance(packet, dict):
        return out
    from_num, to_num = _int(packet.get("from")), _int(packet.get("to"))
    if from_num is None or not 0 <= from_num <= BROADCAST_NUM:
        return out
    if to_num is None or not 0 <= to_num <= BROADCAST_NUM:
        to_num = BROADCAST_NUM
    packet_id = _int(packet.get("id")) or 0
    decoded = _dict(packet.get("decoded"))
    portnum = decoded.get("portnum") if isinstance(decoded.get("portnum"), str) else None
    addressed_to_us = my_num is None or to_num == my_num
    if portnum == "ROUTING_APP" and addressed_to_us:
        request_id = _int(decoded.get("requestId"))
        if request_id:
            reason = _dict(decoded.get("routing")).get("errorReason", "NONE")
            out.routing = RoutingOutcome(request_id, str(reason)[:40], from_num)
    if from_num == my_num:
        return out  # our own packet (or a local NAK, handled above)
    if packet_id and dedupe is not None and dedupe.seen(from_num, packet_id):
        return out
    rx_time = _float(packet.get("rxTime")) or (time.time() if now is None else now)
    hop_start, hop_limit = _int(packet.get("hopStart")), _int(packet.get("hopLimit")) or 0
    hops = max(0, hop_start - hop_limit) if hop_start else None
    from_id = node_id(from_num)
    common = {
        "from_id": from_id,
        "from_num": from_num,
        "snr": _float(packet.get("rxSnr")),
        "rssi": _int(packet.get("rxRssi")),
        "hops": hops,
        "rx_time": rx_time,
    }
    known_name = (names or {}).get(from_num)
    heard: dict[str, Any] = {**common, "portnum": portnum or "ENCRYPTED", "packet_id": packet_id,
                             "from_name": known_name}
    for key, value in (("position", _position(decoded)), ("telemetry", _telemetry(decoded)),
                       ("user", _user(decoded))):
        if value is not None and portnum in _PORT_OF[key]:
            heard[key] = value
    out.events.append(Event(type="node_heard", data=heard, source="radio", time=rx_time,
                            keys=frozenset({from_id}), triggered_by=from_id))
    if portnum != "TEXT_MESSAGE_APP":
        return out
    text = _text(decoded)
    if not text or (is_echo is not None and is_echo(text)):
        return out
    user = heard.get("user") or {}
    from_name = known_name or user.get("long_name") or from_id
    direct = my_num is not None and to_num == my_num
    word = first_word(text)
    if direct and word in COMMAND_WORDS:
        args = text.split()[1:]
        data = {**common, "from_name": from_name, "text": text, "command": word[1:],
                "args": args[:20], "packet_id": packet_id}
        out.events.append(Event(type="mesh_command", data=data, source="radio", time=rx_time,
                                triggered_by=from_id))
        return out
    channel = _int(packet.get("channel")) or 0
    data = {
        "text": text,
        "from_id": from_id,
        "from_name": from_name,
        "from_num": from_num,
        "to_id": BROADCAST_ID if to_num == BROADCAST_NUM else node_id(to_num),
        "direct": direct,
        "channel": channel,
        "snr": common["snr"],
        "rssi": common["rssi"],
        "hops": hops,
        "packet_id": packet_id,
        "rx_time": rx_time,
    }
    out.events.append(Event(type="message_received", data=data, source="radio", time=rx_time,
                            keys=frozenset({word}) if word else frozenset(),
                            triggered_by=from_id))
    return out


# Which port may carry which kind of node data (a text's payload is never a position).
_PORT_OF = {
    "position": frozenset({"POSITION_APP"}),
    "telemetry": frozenset({"TELEMETRY_APP"}),
    "user": frozenset({"NODEINFO_APP"}),
}
