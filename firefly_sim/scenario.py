"""Scenario files (TOML): the mesh settings, the nodes and what they do over time.

See docs/simulator.md for the format.  :func:`load_scenario` reads and
validates a file; every problem is reported as a :class:`ScenarioError` naming
the offending key.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.radio.airtime import duty_cycle_percent, get_preset
from agent.radio.textsplit import MAX_TEXT_BYTES, utf8_len
from firefly_sim.model import (
    MeshSettings,
    NodeRefError,
    parse_destination,
    parse_node_ref,
)


class ScenarioError(ValueError):
    """An invalid scenario file."""


@dataclass
class NodeSpec:
    num: int
    name: str
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
    position_interval: float | None = None
    telemetry_interval: float | None = None


@dataclass
class PathSpec:
    node: int
    points: list[tuple[float, float, float]]  # (sim seconds, lat, lon), sorted


@dataclass
class MessageSpec:
    at: float
    node: int
    text: str
    to: int
    channel: int = 0
    want_ack: bool = False


@dataclass
class SilenceSpec:
    node: int
    start: float
    end: float


@dataclass
class BatterySpec:
    node: int
    points: list[tuple[float, float]]  # (sim seconds, percent), sorted


@dataclass
class ReplySpec:
    node: int | None  # None = every virtual node
    contains: str  # lower-cased; "" matches every text
    text: str
    delay: float = 2.0
    reply_to: str = "sender"  # "sender" or "^all"
    direct_only: bool = False


@dataclass
class StationSpec:
    port: int
    num: int | None = None
    name: str | None = None
    short_name: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass
class Scenario:
    name: str = "empty"
    description: str = ""
    settings: MeshSettings = field(default_factory=MeshSettings)
    speed: float = 1.0
    loop: bool = False
    duration: float | None = None
    seed: int | None = None
    position_interval: float = 30.0
    telemetry_interval: float = 60.0
    nodes: list[NodeSpec] = field(default_factory=list)
    paths: list[PathSpec] = field(default_factory=list)
    messages: list[MessageSpec] = field(default_factory=list)
    silences: list[SilenceSpec] = field(default_factory=list)
    batteries: list[BatterySpec] = field(default_factory=list)
    replies: list[ReplySpec] = field(default_factory=list)
    stations: list[StationSpec] = field(default_factory=list)

    def period(self) -> float:
        """Length of one pass through the scenario (for ``loop``)."""
        if self.duration is not None:
            return self.duration
        ends = [0.0]
        ends += [m.at for m in self.messages]
        ends += [s.end for s in self.silences]
        ends += [p.points[-1][0] for p in self.paths]
        ends += [b.points[-1][0] for b in self.batteries]
        return max(ends) + max(self.position_interval, 1.0)


# ----------------------------------------------------------------- validation


class _Table:
    """Typed access to one TOML table, with errors naming the key."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return key in self.data

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.where}.{key}: {message}")

    def number(
        self,
        key: str,
        default: float | None = None,
        lo: float | None = None,
        hi: float | None = None,
        required: bool = False,
    ) -> float | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise self.error(key, "must be finite")
        if lo is not None and number < lo:
            raise self.error(key, f"must be >= {lo}")
        if hi is not None and number > hi:
            raise self.error(key, f"must be <= {hi}")
        return number

    def req_number(self, key: str, lo: float | None = None, hi: float | None = None) -> float:
        value = self.number(key, lo=lo, hi=hi, required=True)
        assert value is not None
        return value

    def integer(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(key, f"must be between {lo} and {hi}")
        return value

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def node(self, key: str, required: bool = True) -> int | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return None
        try:
            return parse_node_ref(value)
        except NodeRefError as exc:
            raise self.error(key, str(exc)) from None

    def raw(self, key: str) -> Any:
        return self._get(key)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ScenarioError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


def _array_of_tables(root: _Table, key: str) -> list[_Table]:
    value = root.raw(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise root.error(key, "expected an array of tables ([[" + key + "]])")
    return [_Table(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _points(t: _Table, key: str, width: int) -> list[tuple[float, ...]]:
    value = t.raw(key)
    if not isinstance(value, list) or not value:
        raise t.error(key, "expected a non-empty array of [seconds, ...] arrays")
    out: list[tuple[float, ...]] = []
    for i, point in enumerate(value):
        if (
            not isinstance(point, list)
            or len(point) != width
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in point)
        ):
            raise t.error(f"{key}[{i}]", f"expected {width} numbers, got {point!r}")
        if point[0] < 0:
            raise t.error(f"{key}[{i}]", "time must be >= 0")
        out.append(tuple(float(x) for x in point))
    out.sort(key=lambda p: p[0])
    return out


def _text(t: _Table, key: str) -> str:
    text = t.req_string(key)
    if not text:
        raise t.error(key, "must not be empty")
    if utf8_len(text) > MAX_TEXT_BYTES:
        raise t.error(key, f"is {utf8_len(text)} UTF-8 bytes; at most {MAX_TEXT_BYTES}")
    return text


def _parse_mesh(root: _Table) -> MeshSettings:
    if not root.has("mesh"):
        return MeshSettings()
    t = _Table(root.raw("mesh"), "mesh")
    region = (t.string("region", "EU_868") or "EU_868").upper()
    try:
        duty_cycle_percent(region)
    except ValueError as exc:
        raise t.error("region", str(exc)) from None
    preset_name = t.string("modem_preset", "LONG_FAST") or "LONG_FAST"
    try:
        preset = get_preset(preset_name)
    except ValueError as exc:
        raise t.error("modem_preset", str(exc)) from None
    channels_raw = t.raw("channels")
    channels = [""]
    if channels_raw is not None:
        if (
            not isinstance(channels_raw, list)
            or not 1 <= len(channels_raw) <= 8
            or not all(isinstance(c, str) and len(c) <= 11 for c in channels_raw)
        ):
            raise t.error("channels", "expected 1 to 8 channel names of at most 11 characters")
        channels = list(channels_raw)
    settings = MeshSettings(
        region=region,
        modem_preset=preset.name,
        hop_limit=t.integer("hop_limit", 3, 0, 7),
        channels=channels,
        duty_cycle=t.number("duty_cycle", None, lo=0.0, hi=100.0),
        enforce_duty_cycle=t.boolean("enforce_duty_cycle", True),
    )
    t.check_unknown()
    return settings


def parse_scenario(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from parsed TOML (raises :class:`ScenarioError`)."""
    root = _Table(data, source)
    sc = Scenario()
    sc.name = root.string("name", "scenario") or "scenario"
    sc.description = root.string("description", "") or ""
    sc.speed = root.number("speed", 1.0, lo=0.001, hi=10_000.0) or 1.0
    sc.loop = root.boolean("loop", False)
    sc.duration = root.number("duration", None, lo=1.0)
    seed = root.raw("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise root.error("seed", "expected an integer")
    sc.seed = seed
    sc.position_interval = root.number("position_interval", 30.0, lo=0.0) or 0.0
    sc.telemetry_interval = root.number("telemetry_interval", 60.0, lo=0.0) or 0.0
    sc.settings = _parse_mesh(root)

    for t in _array_of_tables(root, "nodes"):
        num = t.node("id") if t.has("id") else t.node("num")
        assert num is not None
        name = t.req_string("name")
        short = t.string("short_name") or name[:4]
        if len(short) > 4:
            raise t.error("short_name", "at most 4 characters")
        battery = t.integer("battery", 100, 0, 101)
        sc.nodes.append(
            NodeSpec(
                num=num,
                name=name,
                short_name=short,
                lat=t.req_number("lat", -90.0, 90.0),
                lon=t.req_number("lon", -180.0, 180.0),
                altitude=t.integer("altitude", 0, -500, 10_000),
                battery=battery,
                voltage=t.number("voltage", None, lo=0.0, hi=30.0),
                online=t.boolean("online", True),
                hops=t.integer("hops", 0, 0, 7),
                role=(t.string("role", "CLIENT") or "CLIENT").upper(),
                hw_model=(t.string("hw_model", "TBEAM") or "TBEAM").upper(),
                snr=t.number("snr", None, lo=-30.0, hi=30.0),
                rssi=int(r) if (r := t.number("rssi", None, lo=-150.0, hi=0.0)) is not None else None,
                position_interval=t.number("position_interval", None, lo=0.0),
                telemetry_interval=t.number("telemetry_interval", None, lo=0.0),
            )
        )
        t.check_unknown()
    known = {n.num for n in sc.nodes}
    if len(known) != len(sc.nodes):
        raise ScenarioError("nodes: duplicate node id")

    def known_node(t: _Table, key: str) -> int:
        num = t.node(key)
        assert num is not None
        if num not in known:
            raise t.error(key, f"unknown node !{num:08x} (declare it in [[nodes]])")
        return num

    for t in _array_of_tables(root, "paths"):
        node = known_node(t, "node")
        pts = _points(t, "points", 3)
        for i, (_, lat, lon) in enumerate(pts):
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise t.error(f"points[{i}]", "latitude/longitude out of range")
        sc.paths.append(PathSpec(node, [(p[0], p[1], p[2]) for p in pts]))
        t.check_unknown()

    for t in _array_of_tables(root, "messages"):
        node = known_node(t, "from")
        to_raw = t.raw("to")
        try:
            to = parse_destination(to_raw if to_raw is not None else "^all")
        except NodeRefError as exc:
            raise t.error("to", str(exc)) from None
        channel = t.integer("channel", 0, 0, 7)
        if channel >= len(sc.settings.channels):
            raise t.error("channel", "channel is not configured in [mesh].channels")
        sc.messages.append(
            MessageSpec(
                at=t.req_number("at", lo=0.0),
                node=node,
                text=_text(t, "text"),
                to=to,
                channel=channel,
                want_ack=t.boolean("want_ack", False),
            )
        )
        t.check_unknown()
    sc.messages.sort(key=lambda m: m.at)

    for t in _array_of_tables(root, "silences"):
        node = known_node(t, "node")
        start = t.req_number("from", lo=0.0)
        end = t.req_number("to", lo=0.0)
        if end <= start:
            raise t.error("to", "must be after 'from'")
        sc.silences.append(SilenceSpec(node, start, end))
        t.check_unknown()

    for t in _array_of_tables(root, "battery"):
        node = known_node(t, "node")
        pts = _points(t, "points", 2)
        for i, (_, pct) in enumerate(pts):
            if not 0 <= pct <= 101:
                raise t.error(f"points[{i}]", "battery percent must be 0..101")
        sc.batteries.append(BatterySpec(node, [(p[0], p[1]) for p in pts]))
        t.check_unknown()

    for t in _array_of_tables(root, "replies"):
        node_raw = t.raw("node")
        reply_node = None if node_raw is None or node_raw == "*" else known_node(t, "node")
        reply_to = t.string("reply_to", "sender") or "sender"
        if reply_to not in ("sender", "^all"):
            raise t.error("reply_to", "expected 'sender' or '^all'")
        sc.replies.append(
            ReplySpec(
                node=reply_node,
                contains=(t.string("contains", "") or "").lower(),
                text=_text(t, "text"),
                delay=t.number("delay", 2.0, lo=0.0) or 0.0,
                reply_to=reply_to,
                direct_only=t.boolean("direct_only", False),
            )
        )
        t.check_unknown()

    for t in _array_of_tables(root, "stations"):
        port = t.integer("port", 0, 1, 65535)
        if port == 0:
            raise t.error("port", "is required")
        num = t.node("num", required=False) if t.has("num") else t.node("id", required=False)
        if num is not None and num in known:
            raise t.error("num", "clashes with a virtual node")
        st_short = t.string("short_name")
        if st_short is not None and len(st_short) > 4:
            raise t.error("short_name", "at most 4 characters")
        sc.stations.append(
            StationSpec(
                port=port,
                num=num,
                name=t.string("name"),
                short_name=st_short,
                lat=t.number("lat", None, -90.0, 90.0),
                lon=t.number("lon", None, -180.0, 180.0),
            )
        )
        t.check_unknown()

    root.check_unknown()
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: invalid TOML: {exc}") from None
    return parse_scenario(data, p.name)


def interpolate(points: Sequence[tuple[float, ...]], t: float) -> tuple[float, ...]:
    """Linear interpolation of ``(time, values...)`` points at time ``t``
    (clamped to the first/last point)."""
    if t <= points[0][0]:
        return points[0][1:]
    for (t0, *v0), (t1, *v1) in itertools.pairwise(points):
        if t <= t1:
            if t1 == t0:
                return tuple(v1)
            f = (t - t0) / (t1 - t0)
            return tuple(a + (b - a) * f for a, b in zip(v0, v1, strict=True))
    return points[-1][1:]
