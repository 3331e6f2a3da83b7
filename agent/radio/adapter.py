"""The radio adapter: owns the meshtastic interface and keeps it connected.

A supervisor thread opens the interface named by the radio URL and, when the radio drops or
reboots, closes it and opens a new one with capped exponential back-off: the library does not
retry once ``meshtastic.connection.lost`` has fired (and its reader thread can die without
firing it, which the supervisor also watches for).

Library pitfalls handled here: pypubsub keeps weak references, so the listeners are bound
methods of this long-lived object, with explicitly named arguments (the first listener fixes a
topic's argument spec); every callback runs on the library's one publishing thread, so they
only parse and hand events to the engine (``engine.submit``/``engine.call``); listeners are
global, so each checks that the packet came from the current interface; destinations are
always passed as node numbers, never names (an unknown name raises SystemExit); a packet is
sent only when the radio confirmed it into its transmit queue (``queueStatus``), otherwise it
stays in the outbound queue and is sent again after the reconnect.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from agent.radio.outqueue import Job, OutQueue
from agent.radio.packets import BROADCAST_ID, BROADCAST_NUM, Deduper, RecentTexts, parse_packet
from agent.radio.sender import RadioUnavailable
from agent.radio.url import RadioURL

_LOG = logging.getLogger(__name__)

BACKOFF_MIN_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 30
LOST_GRACE_SECONDS = 2.0  # after connection.lost, the library may re-handshake by itself
CONFIRM_TIMEOUT_SECONDS = 5.0  # the radio's queueStatus for a packet we wrote
CLOSE_TIMEOUT_SECONDS = 10.0


class RadioAdapter:
    def __init__(self, url: RadioURL, engine: Any, queue: OutQueue) -> None:
        self.url = url
        self.engine = engine
        self.queue = queue
        self.recent = RecentTexts()
        self._dedupe = Deduper()
        self._iface: Any = None
        self._opening = False  # a BLE interface publishes before its constructor returns
        self._my_num: int | None = None
        self._connected = threading.Event()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="radio-supervisor",
                                        daemon=True)
        self.connected_since: float | None = None
        self.last_packet_at: float | None = None
        self.last_error: str | None = None
        self.reconnect_count = 0
        self.connect_failures = 0
        self.packets_received = 0
        self.packets_sent = 0

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        from pubsub import pub

        pub.subscribe(self.on_receive, "meshtastic.receive")
        pub.subscribe(self.on_established, "meshtastic.connection.established")
        pub.subscribe(self.on_lost, "meshtastic.connection.lost")
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        from pubsub import pub

        self._stop.set()
        self._lost.set()
        self._thread.join(timeout)
        for listener, topic in ((self.on_receive, "meshtastic.receive"),
                                (self.on_established, "meshtastic.connection.established"),
                                (self.on_lost, "meshtastic.connection.lost")):
            try:
                pub.unsubscribe(listener, topic)
            except Exception:  # noqa: BLE001 - the topic may never have been created
                pass

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout) and not self._stop.is_set()

    def status(self) -> dict[str, Any]:
        """The radio's state for the agent's status and health (any thread)."""
        queue = self.queue.status()
        return {
            "url": str(self.url),
            "connected": self.connected,
            "node_id": f"!{self._my_num:08x}" if self._my_num is not None else None,
            "connected_since": _iso(self.connected_since),
            "last_packet_at": _iso(self.last_packet_at),
            "reconnect_count": self.reconnect_count,
            "connect_failures": self.connect_failures,
            "last_error": self.last_error,
            "packets_received": self.packets_received,
            "packets_sent": self.packets_sent,
            "airtime_used_ms": queue["airtime_used_ms"],
            "airtime_budget_ms": queue["budget_ms"],
            "queue": queue,
        }

    # -- the supervisor thread -----------------------------------------------------------------

    def _supervise(self) -> None:
        delay = BACKOFF_MIN_SECONDS
        ever_connected = False
        while not self._stop.is_set():
            iface = self._open()
            if iface is None:
                self.connect_failures += 1
                _LOG.warning("radio %s: not connected (%s); retry in %g s", self.url,
                             self.last_error, delay)
                self._stop.wait(delay)
                delay = min(BACKOFF_MAX_SECONDS, delay * 2)
                continue
            delay = BACKOFF_MIN_SECONDS
            if ever_connected:
                self.reconnect_count += 1
            ever_connected = True
            self._watch(iface)
            self._connected.clear()
            self._iface = None
            self.connected_since = None
            _close(iface)
            if not self._stop.is_set():
                _LOG.warning("radio %s: connection lost; reconnecting", self.url)

    def _open(self) -> Any:
        self._lost.clear()
        iface: Any = None
        try:
            if self.url.transport == "tcp":
                from meshtastic.tcp_interface import TCPInterface

                iface = TCPInterface(self.url.target, portNumber=self.url.port,
                                     connectNow=False, timeout=CONNECT_TIMEOUT_SECONDS)
            elif self.url.transport == "serial":
                from meshtastic.serial_interface import SerialInterface

                if self.url.target is None:
                    raise RadioUnavailable("no serial device given (serial:///dev/ttyUSB0)")
                iface = SerialInterface(self.url.target, connectNow=False,
                                        timeout=CONNECT_TIMEOUT_SECONDS)
            else:
                self._opening = True
                from meshtastic.ble_interface import BLEInterface

                iface = BLEInterface(self.url.target, timeout=CONNECT_TIMEOUT_SECONDS)
            self._iface = iface
            if self.url.transport != "ble":
                iface.connect()
                iface.waitForConfig()
            self._my_num = int(iface.myInfo.my_node_num)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the library exits on some errors
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self._iface = None
            if iface is not None:
                _close(iface)
            return None
        finally:
            self._opening = False
        self.last_error = None
        self.connected_since = time.time()
        self._connected.set()
        _LOG.info("radio %s: connected as !%08x", self.url, self._my_num)
        return iface

    def _watch(self, iface: Any) -> None:
        """Return when the connection is gone for good (or the adapter stops)."""
        while not self._stop.is_set():
            if self._lost.wait(1.0):
                if self._stop.is_set() or not _reader_alive(iface):
                    return
                if self._stop.wait(LOST_GRACE_SECONDS):
                    return
                if self._connected.is_set() and _reader_alive(iface):
                    self._lost.clear()  # the library re-handshook by itself (a reboot)
                    continue
                return
            if not _reader_alive(iface):
                self.last_error = "the library's reader thread ended"
                return

    # -- pubsub listeners (the library's publishing thread: parse and hand over only) ---------

    def _current(self, interface: Any) -> bool:
        return interface is self._iface or (self._opening and self._iface is None)

    def on_receive(self, packet: Any, interface: Any) -> None:
        if not self._current(interface):
            return
        self.last_packet_at = time.time()
        self.packets_received += 1
        try:
            sender = packet.get("from") if isinstance(packet, dict) else None
            names = {sender: _node_name(interface, sender)} if isinstance(sender, int) else {}
            parsed = parse_packet(packet, my_num=self._my_num,
                                  names={k: v for k, v in names.items() if v},
                                  dedupe=self._dedupe, is_echo=self.recent.contains)
        except Exception:  # noqa: BLE001 - a malformed packet must not stop the listener
            _LOG.exception("radio: could not read a packet")
            return
        for event in parsed.events:
            self.engine.submit(event)
        routing = parsed.routing
        if routing is not None:
            self.engine.call(lambda: _logged(lambda: self.queue.on_routing(routing)))

    def on_established(self, interface: Any) -> None:
        if interface is self._iface and self._iface is not None:
            self._connected.set()

    def on_lost(self, interface: Any) -> None:
        if interface is self._iface and self._iface is not None:
            self._connected.clear()
            self._lost.set()

    # -- sending (the outbound queue's sender thread) ------------------------------------------

    def send_text(self, job: Job) -> int:
        """Send one text packet; its id once the radio has taken it. Raises RadioUnavailable."""
        iface = self._iface
        if iface is None or not self._connected.is_set():
            raise RadioUnavailable("radio not connected")
        from meshtastic.protobuf import portnums_pb2

        destination = BROADCAST_NUM if job.destination == BROADCAST_ID \
            else int(job.destination[1:], 16)
        self.recent.add(job.text)
        try:
            packet = iface.sendData(job.text.encode("utf-8"), destinationId=destination,
                                    portNum=portnums_pb2.PortNum.TEXT_MESSAGE_APP,
                                    wantAck=job.want_ack, channelIndex=job.channel)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - kept pending, sent later
            raise RadioUnavailable(f"{type(exc).__name__}: {exc}") from None
        packet_id = int(packet.id)
        if not _confirmed(iface, packet_id, CONFIRM_TIMEOUT_SECONDS):
            queue = getattr(iface, "queue", None)
            if queue is not None:
                queue.pop(packet_id, None)  # we send it again ourselves: the library must not
            raise RadioUnavailable("the radio did not confirm the packet")
        self.packets_sent += 1
        return packet_id


def _logged(fn: Any) -> None:
    """Run ``fn`` (on the engine thread), logging a failure nobody else would see."""
    try:
        fn()
    except Exception:  # noqa: BLE001 - an unobserved future would swallow it
        _LOG.exception("radio: handling a routing outcome failed")


def _confirmed(iface: Any, packet_id: int, timeout: float) -> bool:
    """Whether the radio answered the packet with a queueStatus (the library then drops it
    from ``iface.queue``). Radios whose firmware sends no queueStatus count as confirmed."""
    deadline = time.monotonic() + timeout
    while True:
        queue = getattr(iface, "queue", None)
        if getattr(iface, "queueStatus", None) is None or queue is None:
            return True
        if queue.get(packet_id) in (None, False):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _reader_alive(iface: Any) -> bool:
    reader = getattr(iface, "_rxThread", None)
    return reader is None or not isinstance(reader, threading.Thread) or reader.is_alive() \
        or reader.ident is None


def _node_name(interface: Any, num: int) -> str | None:
    nodes = getattr(interface, "nodesByNum", None)
    info = nodes.get(num) if isinstance(nodes, dict) else None
    user = info.get("user") if isinstance(info, dict) else None
    if not isinstance(user, dict):
        return None
    name = user.get("longName") or user.get("shortName")
    return str(name)[:40] if name else None


def _close(iface: Any) -> None:
    """Close an interface without hanging the supervisor (close() joins library threads)."""
    def close() -> None:
        try:
            iface.close()
        except Exception:  # noqa: BLE001 - it is going away anyway
            _LOG.debug("radio: error while closing the interface", exc_info=True)

    closer = threading.Thread(target=close, name="radio-close", daemon=True)
    closer.start()
    closer.join(CLOSE_TIMEOUT_SECONDS)


def _iso(value: float | None) -> str | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")
