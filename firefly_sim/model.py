"""Plain data of the simulated mesh: virtual nodes, transmissions, node ids."""

from __future__ import annotations

import re
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

BROADCAST_NUM = 0xFFFFFFFF
BROADCAST_ID = "^all"

_HEX_ID = re.compile(r"^!([0-9a-fA-F]{1,8})$")
_DEC_ID = re.compile(r"^[0-9]{1,10}$")


class NodeRefError(ValueError):
    """A node id that is neither ``!xxxxxxxx`` nor a decimal node number."""


def node_id(num: int) -> str:
    """Meshtastic user id of a node number: ``!%08x``."""
    return f"!{num:08x}"


def parse_node_ref(ref: str | int) -> int:
    """Node number from ``"!a1b2c3d4"``, ``"%21a1b2c3d4"``, ``"2712847316"`` or an int.

    Raises :class:`NodeRefError` for anything else, for 0 and for the broadcast number.
    """
    if isinstance(ref, bool):
        raise NodeRefError(f"invalid node id {ref!r}")
    if isinstance(ref, int):
        num = ref
    elif isinstance(ref, str):
        text = urllib.parse.unquote(ref.strip())
        m = _HEX_ID.match(text)
        if m:
            num = int(m.group(1), 16)
        elif _DEC_ID.match(text):
            num = int(text)
        else:
            raise NodeRefError(
                f"invalid node id {ref!r}: use '!' followed by 8 hex digits or a decimal number"
            )
    else:
        raise NodeRefError(f"invalid node id {ref!r}")
    if not 0 < num < BROADCAST_NUM:
        raise NodeRefError(f"node number {num} out of range (1..4294967294)")
    return num


def parse_destination(ref: str | int) -> int:
    """Like :func:`parse_node_ref` but also accepts ``"^all"`` (broadcast)."""
    if isinstance(ref, str) and ref.strip().lower() in ("^all", "all", "broadcast"):
        return BROADCAST_NUM
    if isinstance(ref, int) and not isinstance(ref, bool) and ref == BROADCAST_NUM:
        return BROADCAST_NUM
    return parse_node_ref(ref)


def destination_id(num: int) -> str:
    return BROADCAST_ID if num == BROADCAST_NUM else node_id(num)


def voltage_for_battery(battery: int) -> float:
    """A plausible Li-ion voltage for a battery percentage (101 = external power)."""
    if battery > 100:
        return 4.2
    return round(3.3 + 0.9 * max(0, battery) / 100.0, 3)


@dataclass
class ReceivedText:
    """A text a virtual node heard (for inspection through the control API)."""

    from_num: int
    to_num: int
    channel: int
    text: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return {
            "from": node_id(self.from_num),
            "to": destination_id(self.to_num),
            "channel": self.channel,
            "text": self.text,
            "time": self.time,
        }


@dataclass
class VirtualNode:
    """A simulated handset or relay."""

    num: int
    long_name: str
    short_name: str
    lat: float
    lon: float
    altitude: int = 0
    battery: int = 100
    voltage: float | None = None
    online: bool = True
    hops: int = 0
    role: str = "CLIENT"
    hw_model: str = "TBEAM"
    snr: float | None = None
    rssi: int | None = None
    last_heard: float = 0.0
    started: float = field(default_factory=time.time)
    received: deque[ReceivedText] = field(default_factory=lambda: deque(maxlen=50))

    @property
    def id(self) -> str:
        return node_id(self.num)

    @property
    def effective_voltage(self) -> float:
        return self.voltage if self.voltage is not None else voltage_for_battery(self.battery)

    def to_json(self, with_received: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "num": self.num,
            "name": self.long_name,
            "short_name": self.short_name,
            "lat": self.lat,
            "lon": self.lon,
            "altitude": self.altitude,
            "battery": self.battery,
            "voltage": self.effective_voltage,
            "online": self.online,
            "hops": self.hops,
            "role": self.role,
            "hw_model": self.hw_model,
            "last_heard": self.last_heard or None,
        }
        if with_received:
            data["received"] = [r.to_json() for r in self.received]
        return data


@dataclass
class Transmission:
    """A packet a station's radio was asked to transmit, and what became of it.

    ``outcome``: ``pending`` (on air, ACK awaited), ``sent`` (transmitted, no ACK
    requested), ``acked``, ``nak`` (see ``error_reason``) or ``dropped`` (silently
    discarded by the firmware's per-port throttle).  ``transmitted`` is false when
    the firmware refused the packet before it went on air.
    """

    index: int
    port: int
    from_num: int
    to_num: int
    channel: int
    packet_id: int
    portnum: str
    payload_bytes: int
    on_air_bytes: int
    airtime_ms: float
    time: float
    want_ack: bool
    hop_limit: int
    text: str | None = None
    transmitted: bool = True
    outcome: str = "sent"
    error_reason: str | None = None
    delivered_to: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "port": self.port,
            "from": node_id(self.from_num),
            "from_num": self.from_num,
            "to": destination_id(self.to_num),
            "to_num": self.to_num,
            "channel": self.channel,
            "packet_id": self.packet_id,
            "portnum": self.portnum,
            "text": self.text,
            "payload_bytes": self.payload_bytes,
            "on_air_bytes": self.on_air_bytes,
            "airtime_ms": round(self.airtime_ms, 3),
            "time": self.time,
            "want_ack": self.want_ack,
            "hop_limit": self.hop_limit,
            "transmitted": self.transmitted,
            "outcome": self.outcome,
            "error_reason": self.error_reason,
            "delivered_to": list(self.delivered_to),
        }


@dataclass
class MeshSettings:
    """Radio settings shared by every radio of the simulated mesh."""

    region: str = "EU_868"
    modem_preset: str = "LONG_FAST"
    hop_limit: int = 3
    #: Channel names by index; index 0 is the primary channel ("" = preset default name).
    channels: list[str] = field(default_factory=lambda: [""])
    #: Duty-cycle limit in percent; None = the region's limit.
    duty_cycle: float | None = None
    enforce_duty_cycle: bool = True


@dataclass
class StationIdentity:
    """Who a station's radio is on the mesh."""

    port: int
    num: int
    long_name: str
    short_name: str
    lat: float | None = None
    lon: float | None = None
    altitude: int = 0

    @property
    def id(self) -> str:
        return node_id(self.num)


def default_station_num(port: int) -> int:
    """Node number of the station radio on ``port`` when none is configured."""
    return 0x46460000 | (port & 0xFFFF)
