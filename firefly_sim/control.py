"""The simulator's control API: JSON over HTTP on loopback (stdlib http.server).

Routes (see docs/simulator.md for bodies and examples)::

    GET  /healthz
    GET  /nodes                     POST /nodes
    GET  /nodes/{id}
    POST /nodes/{id}/text           POST /nodes/{id}/position
    POST /nodes/{id}/telemetry      POST /nodes/{id}/nodeinfo
    POST /nodes/{id}/offline        POST /nodes/{id}/online
    GET  /transmissions[?since=N]
    GET  /radios
    POST /radios/{port}/drop        POST /radios/{port}/reboot
    POST /radios/{port}/notify

``{id}`` is ``!a1b2c3d4`` (``%21a1b2c3d4`` URL-encoded) or the decimal node
number.  Errors are ``{"error": "<message>"}`` with status 400 (bad input),
404 (unknown node, radio or route), 405 (wrong method) or 409 (node offline).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.radio.airtime import packet_airtime_ms
from firefly_sim.mesh import Mesh, SimError
from firefly_sim.model import (
    NodeRefError,
    VirtualNode,
    parse_destination,
    parse_node_ref,
)
from firefly_sim.radio_server import RadioServer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------ input helpers


def _number(
    body: dict[str, Any],
    key: str,
    lo: float | None = None,
    hi: float | None = None,
    required: bool = True,
) -> float | None:
    if key not in body or body[key] is None:
        if required:
            raise ApiError(400, f"'{key}' is required")
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"'{key}' must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ApiError(400, f"'{key}' must be finite")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ApiError(400, f"'{key}' must be between {lo} and {hi}, got {value!r}")
    return number


def _req_number(body: dict[str, Any], key: str, lo: float, hi: float) -> float:
    value = _number(body, key, lo, hi, required=True)
    assert value is not None
    return value


def _int(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{key}' must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ApiError(400, f"'{key}' must be between {lo} and {hi}, got {value!r}")
    return value


def _str(body: dict[str, Any], key: str, default: str | None = None, max_len: int = 200) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string, got {value!r}")
    if len(value) > max_len:
        raise ApiError(400, f"'{key}' is longer than {max_len} characters")
    return value


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"'{key}' must be true or false, got {value!r}")
    return value


def _node_num(ref: str) -> int:
    try:
        return parse_node_ref(ref)
    except NodeRefError as exc:
        raise ApiError(400, str(exc)) from None


# ------------------------------------------------------------------ the API


class ControlApi:
    """Request handling, independent of HTTP plumbing (easy to test)."""

    def __init__(
        self,
        mesh: Mesh,
        radios: dict[int, RadioServer],
        sim_time: Callable[[], float] | None = None,
    ) -> None:
        self.mesh = mesh
        self.radios = radios
        self.sim_time = sim_time or (lambda: 0.0)
        self.started = time.time()

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        routes: list[tuple[str, tuple[str, ...], Callable[..., tuple[int, Any]]]] = [
            ("GET", ("healthz",), self.healthz),
            ("GET", ("nodes",), self.list_nodes),
            ("POST", ("nodes",), self.add_node),
            ("GET", ("nodes", "*"), self.get_node),
            ("POST", ("nodes", "*", "text"), self.node_text),
            ("POST", ("nodes", "*", "position"), self.node_position),
            ("POST", ("nodes", "*", "telemetry"), self.node_telemetry),
            ("POST", ("nodes", "*", "nodeinfo"), self.node_info),
            ("POST", ("nodes", "*", "offline"), self.node_offline),
            ("POST", ("nodes", "*", "online"), self.node_online),
            ("GET", ("transmissions",), self.transmissions),
            ("GET", ("radios",), self.list_radios),
            ("POST", ("radios", "*", "drop"), self.radio_drop),
            ("POST", ("radios", "*", "reboot"), self.radio_reboot),
            ("POST", ("radios", "*", "notify"), self.radio_notify),
        ]
        path_matched = False
        for route_method, pattern, handler in routes:
            if len(pattern) != len(parts):
                continue
            if not all(p == "*" or p == part for p, part in zip(pattern, parts, strict=True)):
                continue
            path_matched = True
            if route_method != method:
                continue
            args = [part for p, part in zip(pattern, parts, strict=True) if p == "*"]
            return handler(*args, query=query, body=body)
        if path_matched:
            raise ApiError(405, f"method {method} not allowed on {path}")
        raise ApiError(404, f"no such endpoint: {method} {path}")

    # ---------------------------------------------------------------- general

    def healthz(self, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        return 200, {
            "ok": True,
            "uptime_s": round(time.time() - self.started, 3),
            "sim_time": round(self.sim_time(), 3),
            "nodes": len(self.mesh.nodes()),
            "radios": self.mesh.station_ports(),
            "region": self.mesh.settings.region,
            "modem_preset": self.mesh.settings.modem_preset,
        }

    # ------------------------------------------------------------------ nodes

    def list_nodes(self, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"nodes": self.mesh.nodes_json()}

    def get_node(self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        return 200, self.mesh.node_json(_node_num(ref))

    def add_node(self, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        ref = body.get("id", body.get("num"))
        if ref is None:
            raise ApiError(400, "'id' (\"!a1b2c3d4\") or 'num' is required")
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise ApiError(400, f"invalid node id {ref!r}")
        num = _node_num(str(ref)) if isinstance(ref, str) else self._int_num(ref)
        name = _str(body, "name", max_len=39)
        if not name:
            raise ApiError(400, "'name' is required")
        short = _str(body, "short_name", name[:4], max_len=4) or name[:4]
        battery = _int(body, "battery", 100, 0, 101)
        node = VirtualNode(
            num=num,
            long_name=name,
            short_name=short,
            lat=_req_number(body, "lat", -90.0, 90.0),
            lon=_req_number(body, "lon", -180.0, 180.0),
            altitude=_int(body, "altitude", 0, -500, 10_000),
            battery=battery,
            voltage=_number(body, "voltage", 0.0, 30.0, required=False),
            online=_bool(body, "online", True),
            hops=_int(body, "hops", 0, 0, 7),
            role=(_str(body, "role", "CLIENT", 20) or "CLIENT").upper(),
            hw_model=(_str(body, "hw_model", "TBEAM", 40) or "TBEAM").upper(),
        )
        try:
            self.mesh.add_node(node, announce=_bool(body, "announce", True))
        except SimError as exc:
            raise ApiError(409 if "exists" in str(exc) else 400, str(exc)) from None
        return 201, node.to_json()

    @staticmethod
    def _int_num(value: int) -> int:
        try:
            return parse_node_ref(value)
        except NodeRefError as exc:
            raise ApiError(400, str(exc)) from None

    def node_text(self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        num = _node_num(ref)
        self.mesh.node(num)  # 404 before validating the body
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ApiError(400, "'text' must be a non-empty string")
        to_raw = body.get("to", "^all")
        if not isinstance(to_raw, str | int) or isinstance(to_raw, bool):
            raise ApiError(400, f"'to' must be \"^all\" or a node id, got {to_raw!r}")
        try:
            to = parse_destination(to_raw)
        except NodeRefError as exc:
            raise ApiError(400, f"'to': {exc}") from None
        channel = _int(body, "channel", 0, 0, 7)
        result = self.mesh.send_text(num, text, to, channel, want_ack=_bool(body, "want_ack", False))
        result["airtime_ms"] = round(
            packet_airtime_ms(len(text.encode("utf-8")), self.mesh.settings.modem_preset), 3
        )
        return 200, result

    def node_position(
        self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        num = _node_num(ref)
        self.mesh.node(num)
        lat = _number(body, "lat", -90.0, 90.0, required=False)
        lon = _number(body, "lon", -180.0, 180.0, required=False)
        if (lat is None) != (lon is None):
            raise ApiError(400, "give both 'lat' and 'lon' (or neither to re-report)")
        alt = body.get("altitude")
        altitude = _int(body, "altitude", 0, -500, 10_000) if alt is not None else None
        return 200, self.mesh.report_position(num, lat, lon, altitude)

    def node_telemetry(
        self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        num = _node_num(ref)
        self.mesh.node(num)
        battery = _int(body, "battery", -1, 0, 101) if body.get("battery") is not None else None
        voltage = _number(body, "voltage", 0.0, 30.0, required=False)
        return 200, self.mesh.report_telemetry(num, battery, voltage)

    def node_info(self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        return 200, self.mesh.announce(_node_num(ref))

    def node_offline(self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        return 200, self.mesh.set_online(_node_num(ref), False).to_json()

    def node_online(self, ref: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        report = _bool(body, "report", True)
        return 200, self.mesh.set_online(_node_num(ref), True, report=report).to_json()

    # ---------------------------------------------------------- transmissions

    def transmissions(self, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        since_raw = query.get("since", ["0"])[-1]
        try:
            since = int(since_raw)
        except ValueError:
            raise ApiError(400, f"'since' must be an integer index, got {since_raw!r}") from None
        if since < 0:
            raise ApiError(400, "'since' must be >= 0")
        items, next_index = self.mesh.transmissions_json(since)
        port_raw = query.get("port", [None])[-1]
        if port_raw is not None:
            try:
                port = int(port_raw)
            except ValueError:
                raise ApiError(400, f"'port' must be an integer, got {port_raw!r}") from None
            items = [t for t in items if t["port"] == port]
        return 200, {"transmissions": items, "next": next_index}

    # ----------------------------------------------------------------- radios

    def _radio(self, port_raw: str) -> RadioServer:
        try:
            port = int(port_raw)
        except ValueError:
            raise ApiError(400, f"radio port must be an integer, got {port_raw!r}") from None
        radio = self.radios.get(port)
        if radio is None:
            raise ApiError(404, f"no radio on port {port}")
        return radio

    def list_radios(self, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        radios = self.mesh.radios_json()
        for r in radios:
            server = self.radios.get(r["port"])
            r["refusing_for_s"] = round(server.refusing_for(), 3) if server else 0.0
            r["listening"] = server.listening() if server else False
        return 200, {"radios": radios}

    def radio_drop(self, port: str, *, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        radio = self._radio(port)
        seconds = _number(body, "seconds", 0.0, 3600.0, required=False) or 0.0
        closed = radio.drop(seconds)
        return 200, {"port": radio.port, "closed": closed, "refusing_for_s": seconds}

    def radio_reboot(
        self, port: str, *, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        radio = self._radio(port)
        return 200, {"port": radio.port, "notified": self.mesh.reboot_station(radio.port)}

    def radio_notify(
        self, port: str, *, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any]:
        radio = self._radio(port)
        message = _str(body, "message", max_len=400)
        if not message:
            raise ApiError(400, "'message' is required")
        return 200, {"port": radio.port, "notified": self.mesh.notify_station(radio.port, message)}


# ------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    server_version = "firefly-sim"
    protocol_version = "HTTP/1.1"
    api: ControlApi  # set on the subclass made by ControlServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_raw_body(self) -> bytes:
        """Read the whole request body (also for methods that ignore it, so the
        connection stays in sync for the next request)."""
        length_raw = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise ApiError(400, "chunked request bodies are not supported; send Content-Length")
        if not length_raw:
            return b""
        try:
            length = int(length_raw)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "invalid Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(400, f"request body must be at most {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    @staticmethod
    def _parse_body(raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
            raise ApiError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def _dispatch(self, method: str) -> None:
        try:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            raw = self._read_raw_body()
            body = self._parse_body(raw) if method == "POST" else {}
            status, payload = self.api.handle(method, url.path, query, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": exc.message}
        except SimError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception as exc:
            log.exception("control API error on %s %s", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        try:
            self._reply(status, payload)
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ControlServer:
    """Serves :class:`ControlApi` on ``host:port`` in a background thread."""

    def __init__(self, api: ControlApi, host: str, port: int) -> None:
        handler = type("ControlHandler", (_Handler,), {"api": api})
        self.httpd = _Server((host, port), handler)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="control-api", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        log.info("control API on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()  # blocks until serve_forever returns: only when running
            self._thread.join(2.0)
        self.httpd.server_close()
