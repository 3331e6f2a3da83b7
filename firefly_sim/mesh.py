"""The simulated mesh: virtual nodes, station radios, delivery and transmissions.

One :class:`Mesh` holds all shared state behind one re-entrant lock.  Station
radios (one per TCP port) talk to it through *sinks* (client connections, see
``radio_server``); the clock thread runs its timers (end of a transmission,
ACKs); the control API and the scenario player call its node methods.

Firmware behaviour modelled for packets a station's client sends
(``PhoneAPI::handleToRadioPacket`` and ``Router::send``):

* every ``ToRadio.packet`` is answered with ``queueStatus`` (free = maxlen);
* a second ``TEXT_MESSAGE_APP`` packet within 2 s of the last accepted one is
  dropped with a ``RATE_LIMIT_EXCEEDED`` routing error; position, waypoint,
  alert and telemetry packets within 10 s are dropped silently;
* a packet on a channel that is not configured gets ``NO_CHANNEL``;
* a packet whose LoRa frame (16-byte header + Data + 2-byte bitfield) exceeds
  255 bytes gets ``TOO_LARGE`` (a plain text of 233 bytes or more);
* when the station's airtime in the last hour is above the duty cycle, the
  packet gets ``DUTY_CYCLE_LIMIT`` and a client notification;
* otherwise it goes on air after the radio's earlier transmissions, and is
  heard ``airtime`` later by the other stations and the online virtual nodes it
  is addressed to (broadcast or direct);
* with ``want_ack``: a broadcast gets an implicit ACK (from the station itself)
  when someone heard it; a direct message gets an ACK from the destination when
  it is online, else ``MAX_RETRANSMIT`` after three retransmission timeouts.
  Routing errors raised locally (rate limit, size, channel, duty cycle) are
  sent whether or not ``want_ack`` was set, as the firmware does.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.radio.airtime import (
    MAX_LORA_PAYLOAD_LEN,
    MESHTASTIC_HEADER_BYTES,
    duty_cycle_percent,
    get_preset,
)
from agent.radio.textsplit import MAX_TEXT_BYTES
from firefly_sim import packets
from firefly_sim.clock import TimerQueue
from firefly_sim.model import (
    BROADCAST_NUM,
    MeshSettings,
    ReceivedText,
    StationIdentity,
    Transmission,
    VirtualNode,
    destination_id,
    node_id,
)

log = logging.getLogger(__name__)

TEXT_RATE_LIMIT_S = 2.0
OTHER_RATE_LIMIT_S = 10.0
THROTTLED_PORTS = frozenset(
    {packets.POSITION_APP, packets.WAYPOINT_APP, packets.ALERT_APP, packets.TELEMETRY_APP}
)
#: Packets kept for a station while no client is connected (firmware MAX_RX_TOPHONE).
BACKLOG_LEN = 32
#: Retransmissions of a reliable direct message before MAX_RETRANSMIT.
RELIABLE_RETRANSMISSIONS = 3
MAX_TRANSMISSIONS_KEPT = 100_000

TextListener = Callable[[VirtualNode, int, int, int, str], None]


class SimError(Exception):
    """A request the simulator cannot honour (mapped to an HTTP status)."""

    status = 400


class UnknownNode(SimError):
    status = 404


class UnknownRadio(SimError):
    status = 404


class NodeOffline(SimError):
    status = 409


class Sink(Protocol):
    """A client connection of a station radio."""

    def send(self, message: Any) -> None:
        """Queue one ``FromRadio`` for the client (never blocks)."""

    def close(self) -> None:
        """Close the connection."""


@dataclass(eq=False)
class Station:
    """A station's radio: its identity plus runtime state."""

    identity: StationIdentity
    clients: list[Sink] = field(default_factory=list)
    configured: list[Sink] = field(default_factory=list)
    backlog: deque[Any] = field(default_factory=lambda: deque(maxlen=BACKLOG_LEN))
    last_port_time: dict[int, float] = field(default_factory=dict)
    airtime_log: deque[tuple[float, float]] = field(default_factory=deque)
    tx_free_at: float = 0.0


class Mesh:
    """All nodes and radios of one simulated mesh."""

    def __init__(
        self,
        settings: MeshSettings,
        timers: TimerQueue,
        seed: int | None = None,
        telemetry_interval: int = 900,
    ) -> None:
        self.settings = settings
        self.preset = get_preset(settings.modem_preset)
        self.duty_cycle_limit = (
            settings.duty_cycle if settings.duty_cycle is not None else duty_cycle_percent(settings.region)
        )
        self.timers = timers
        self.telemetry_interval = telemetry_interval
        self.lock = threading.RLock()
        self.started = time.time()
        self._rng = random.Random(seed)
        self._nodes: dict[int, VirtualNode] = {}
        self._stations: dict[int, Station] = {}
        self._transmissions: list[Transmission] = []
        self._tx_offset = 0  # index of _transmissions[0] after trimming
        self.text_listeners: list[TextListener] = []

    # ------------------------------------------------------------------ stations

    def add_station(self, identity: StationIdentity) -> None:
        with self.lock:
            if identity.port in self._stations:
                raise SimError(f"radio port {identity.port} configured twice")
            if identity.num in self._nodes or any(
                s.identity.num == identity.num for s in self._stations.values()
            ):
                raise SimError(f"node number {node_id(identity.num)} is already in use")
            self._stations[identity.port] = Station(identity)

    def station_ports(self) -> list[int]:
        with self.lock:
            return sorted(self._stations)

    def _station(self, port: int) -> Station:
        try:
            return self._stations[port]
        except KeyError:
            raise UnknownRadio(f"no radio on port {port}") from None

    def attach(self, port: int, sink: Sink) -> None:
        with self.lock:
            self._station(port).clients.append(sink)

    def detach(self, port: int, sink: Sink) -> None:
        with self.lock:
            st = self._station(port)
            if sink in st.clients:
                st.clients.remove(sink)
            if sink in st.configured:
                st.configured.remove(sink)

    def clients(self, port: int) -> list[Sink]:
        with self.lock:
            return list(self._station(port).clients)

    def radios_json(self) -> list[dict[str, Any]]:
        with self.lock:
            mono = time.monotonic()
            out = []
            for port in sorted(self._stations):
                st = self._stations[port]
                used_ms = self._airtime_last_hour_ms(st, mono)
                out.append(
                    {
                        "port": port,
                        "num": st.identity.num,
                        "id": st.identity.id,
                        "name": st.identity.long_name,
                        "short_name": st.identity.short_name,
                        "clients": len(st.clients),
                        "configured_clients": len(st.configured),
                        "backlog": len(st.backlog),
                        "airtime_last_hour_ms": round(used_ms, 3),
                        "duty_cycle_used_percent": round(used_ms / 36_000.0, 4),
                        "duty_cycle_limit_percent": self.duty_cycle_limit,
                    }
                )
            return out

    def notify_station(self, port: int, message: str) -> int:
        """Send a ``clientNotification`` to the station's clients; returns how many."""
        with self.lock:
            st = self._station(port)
            for sink in st.configured:
                sink.send(packets.client_notification(message))
            return len(st.configured)

    def reboot_station(self, port: int) -> int:
        """Tell the station's clients the radio rebooted (they re-handshake)."""
        with self.lock:
            st = self._station(port)
            sinks = list(st.configured)
            st.configured.clear()
            for sink in sinks:
                sink.send(packets.rebooted())
            return len(sinks)

    # --------------------------------------------------------- client protocol

    def handle_to_radio(self, port: int, sink: Sink, msg: Any) -> None:
        """Handle one ``ToRadio`` a client of the radio on ``port`` sent."""
        variant = msg.WhichOneof("payload_variant")
        with self.lock:
            st = self._station(port)
            if variant == "want_config_id":
                self._handshake(st, sink, int(msg.want_config_id))
            elif variant == "packet":
                self._station_packet(st, sink, msg.packet)
            elif variant == "heartbeat":
                sink.send(packets.queue_status())
            elif variant == "disconnect":
                log.info("radio %d: client asked to disconnect", port)
                if sink in st.configured:
                    st.configured.remove(sink)
                sink.close()
            else:
                log.debug("radio %d: ignoring ToRadio %s", port, variant)

    def _handshake(self, st: Station, sink: Sink, nonce: int) -> None:
        others = [packets.virtual_node_info(n, self.settings.hop_limit) for n in self._nodes.values()]
        others += [
            packets.station_node_info(o.identity, is_self=False)
            for o in self._stations.values()
            if o is not st
        ]
        for message in packets.handshake_messages(
            nonce, st.identity, self.settings, others, self.telemetry_interval
        ):
            sink.send(message)
        if sink not in st.configured:
            st.configured.append(sink)
        log.info(
            "radio %d: handshake %d done (%d nodes, %d queued packets)",
            st.identity.port,
            nonce,
            len(others),
            len(st.backlog),
        )
        while st.backlog:
            message = st.backlog.popleft()
            for s in st.configured:
                s.send(message)

    def _deliver(self, st: Station, packet: Any) -> None:
        message = packets.from_radio_packet(packet)
        if st.configured:
            for sink in st.configured:
                sink.send(message)
        else:
            st.backlog.append(message)

    # ------------------------------------------------------ station packets

    def _airtime_last_hour_ms(self, st: Station, mono: float) -> float:
        cutoff = mono - 3600.0
        while st.airtime_log and st.airtime_log[0][0] < cutoff:
            st.airtime_log.popleft()
        return sum(ms for _, ms in st.airtime_log)

    def _record(self, rec: Transmission) -> None:
        self._transmissions.append(rec)
        if len(self._transmissions) > MAX_TRANSMISSIONS_KEPT:
            drop = len(self._transmissions) - MAX_TRANSMISSIONS_KEPT
            del self._transmissions[:drop]
            self._tx_offset += drop

    def _local_nak(self, st: Station, sink: Sink, p: Any, rec: Transmission, reason: str) -> None:
        rec.transmitted = False
        rec.outcome = "nak"
        rec.error_reason = reason
        nak = packets.routing_packet(
            st.identity.num,
            st.identity.num,
            request_id=p.id,
            error_reason=reason,
            packet_id=self._packet_id(),
            channel=p.channel,
        )
        self._deliver(st, nak)
        log.info("radio %d: packet %08x refused: %s", st.identity.port, p.id, reason)

    def _station_packet(self, st: Station, sink: Sink, p: Any) -> None:
        sink.send(packets.queue_status(p.id))
        if not p.id:
            p.id = self._packet_id()  # the firmware numbers packets the client left at 0
        if p.to == st.identity.num:
            log.debug("radio %d: local packet (port %d) ignored", st.identity.port, p.decoded.portnum)
            return
        mono = time.monotonic()
        decoded = p.HasField("decoded")
        portnum = int(p.decoded.portnum) if decoded else 0
        payload = bytes(p.decoded.payload) if decoded else bytes(p.encrypted)
        frame_bytes = MESHTASTIC_HEADER_BYTES + packets.on_air_data_bytes(p)
        airtime_ms = self.preset.time_on_air_ms(frame_bytes)
        text = payload.decode("utf-8", errors="replace") if portnum == packets.TEXT_MESSAGE_APP else None
        rec = Transmission(
            index=self._tx_offset + len(self._transmissions),
            port=st.identity.port,
            from_num=st.identity.num,
            to_num=int(p.to),
            channel=int(p.channel),
            packet_id=int(p.id),
            portnum=packets.portnum_name(portnum) if decoded else "ENCRYPTED",
            payload_bytes=len(payload),
            on_air_bytes=frame_bytes,
            airtime_ms=airtime_ms,
            time=time.time(),
            want_ack=bool(p.want_ack),
            hop_limit=int(p.hop_limit),
            text=text,
        )
        self._record(rec)

        # PhoneAPI throttles (checked before anything else, per port number).
        last = st.last_port_time.get(portnum)
        if portnum == packets.TEXT_MESSAGE_APP and last is not None and mono - last < TEXT_RATE_LIMIT_S:
            self._local_nak(st, sink, p, rec, "RATE_LIMIT_EXCEEDED")
            return
        if portnum in THROTTLED_PORTS and last is not None and mono - last < OTHER_RATE_LIMIT_S:
            rec.transmitted = False
            rec.outcome = "dropped"
            rec.error_reason = "THROTTLED"
            log.info("radio %d: %s packet throttled", st.identity.port, rec.portnum)
            return
        st.last_port_time[portnum] = mono

        # Router::send checks.
        if not 0 <= p.channel < len(self.settings.channels):
            self._local_nak(st, sink, p, rec, "NO_CHANNEL")
            return
        if frame_bytes > MAX_LORA_PAYLOAD_LEN:
            self._local_nak(st, sink, p, rec, "TOO_LARGE")
            return
        if self.settings.enforce_duty_cycle and self.duty_cycle_limit < 100.0:
            used = self._airtime_last_hour_ms(st, mono) / 36_000.0
            if used > self.duty_cycle_limit:
                self._local_nak(st, sink, p, rec, "DUTY_CYCLE_LIMIT")
                sink.send(
                    packets.client_notification(
                        "Duty cycle limit exceeded. You can send again in 60 mins", p.id
                    )
                )
                return

        # On air after the radio's earlier transmissions.
        start = max(mono, st.tx_free_at)
        st.tx_free_at = start + airtime_ms / 1000.0
        st.airtime_log.append((start, airtime_ms))
        rec.outcome = "pending" if p.want_ack else "sent"
        delay = st.tx_free_at - mono
        self.timers.schedule(delay, lambda: self._station_packet_heard(st, p, rec))

    def _station_packet_heard(self, st: Station, p: Any, rec: Transmission) -> None:
        """The transmission ended: deliver it to everyone it is addressed to."""
        with self.lock:
            now = time.time()
            dest = int(p.to)
            heard: list[str] = []
            heard_nums: set[int] = set()
            for other in self._stations.values():
                if other is st or dest not in (BROADCAST_NUM, other.identity.num):
                    continue
                pkt = packets.mesh_packet(0, 0, 0, b"", 0)
                pkt.CopyFrom(p)
                setattr(pkt, "from", st.identity.num)
                pkt.rx_time = int(now)
                pkt.rx_snr = self._rng.choice((5.0, 6.25, 7.5, 8.75))
                pkt.rx_rssi = self._rng.randint(-95, -70)
                pkt.hop_start = p.hop_limit
                self._deliver(other, pkt)
                heard.append(other.identity.id)
                heard_nums.add(other.identity.num)
            text = rec.text
            for node in self._nodes.values():
                if not node.online or dest not in (BROADCAST_NUM, node.num):
                    continue
                heard.append(node.id)
                heard_nums.add(node.num)
                if text is not None:
                    node.received.append(ReceivedText(st.identity.num, dest, int(p.channel), text, now))
                    for listener in list(self.text_listeners):
                        try:
                            listener(node, st.identity.num, dest, int(p.channel), text)
                        except Exception:
                            log.exception("text listener failed")
            rec.delivered_to = heard
            log.info(
                "radio %d: %s to %s heard by %s",
                st.identity.port,
                rec.portnum,
                destination_id(dest),
                ", ".join(heard) or "nobody",
            )
            if not p.want_ack:
                return
            if dest == BROADCAST_NUM:
                acker = st.identity.num if heard else None
            else:
                acker = dest if dest in heard_nums else None
            ack_airtime_s = self.preset.time_on_air_ms(MESHTASTIC_HEADER_BYTES + 12) / 1000.0
            if acker is not None:
                self.timers.schedule(ack_airtime_s, lambda: self._routing_reply(st, p, rec, acker, "NONE"))
            else:
                retry_s = min(
                    30.0, RELIABLE_RETRANSMISSIONS * 2.0 * (rec.airtime_ms / 1000.0 + ack_airtime_s)
                )
                self.timers.schedule(
                    retry_s,
                    lambda: self._routing_reply(st, p, rec, st.identity.num, "MAX_RETRANSMIT"),
                )

    def _routing_reply(self, st: Station, p: Any, rec: Transmission, from_num: int, reason: str) -> None:
        with self.lock:
            remote = from_num != st.identity.num
            node = self._nodes.get(from_num)
            if node is not None:
                node.last_heard = time.time()
            reply = packets.routing_packet(
                from_num,
                st.identity.num,
                request_id=int(p.id),
                error_reason=reason,
                packet_id=self._packet_id(),
                channel=int(p.channel),
                rx_snr=self._snr(node) if remote else 0.0,
                rx_rssi=self._rssi(node) if remote else 0,
                hop_start=self.settings.hop_limit,
                hop_limit=self.settings.hop_limit - (node.hops if node else 0),
            )
            self._deliver(st, reply)
            rec.outcome = "acked" if reason == "NONE" else "nak"
            rec.error_reason = None if reason == "NONE" else reason

    def transmissions_json(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Transmissions with ``index >= since`` and the index of the next one."""
        with self.lock:
            start = max(0, since - self._tx_offset)
            items = [t.to_json() for t in self._transmissions[start:]]
            return items, self._tx_offset + len(self._transmissions)

    # ------------------------------------------------------------ virtual nodes

    def _packet_id(self) -> int:
        return self._rng.randint(1, 0xFFFFFFFE)

    def _snr(self, node: VirtualNode | None) -> float:
        if node is not None and node.snr is not None:
            return node.snr
        return self._rng.choice((-4.5, -2.0, 0.25, 2.5, 4.75, 6.0, 7.5, 9.25))

    def _rssi(self, node: VirtualNode | None) -> int:
        if node is not None and node.rssi is not None:
            return node.rssi
        return self._rng.randint(-118, -72)

    def add_node(self, node: VirtualNode, announce: bool = True) -> VirtualNode:
        with self.lock:
            if node.num in self._nodes or any(s.identity.num == node.num for s in self._stations.values()):
                raise SimError(f"node {node.id} already exists")
            self._nodes[node.num] = node
            log.info("node %s (%s) added", node.id, node.long_name)
            if announce and node.online:
                self._announce(node)
                self._report_position(node)
            return node

    def node(self, num: int) -> VirtualNode:
        with self.lock:
            try:
                return self._nodes[num]
            except KeyError:
                raise UnknownNode(f"no virtual node {node_id(num)}") from None

    def nodes(self) -> list[VirtualNode]:
        with self.lock:
            return list(self._nodes.values())

    def nodes_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [n.to_json() for n in self._nodes.values()]

    def node_json(self, num: int) -> dict[str, Any]:
        with self.lock:
            return self.node(num).to_json(with_received=True)

    def _online_node(self, num: int) -> VirtualNode:
        node = self.node(num)
        if not node.online:
            raise NodeOffline(f"node {node.id} is offline")
        return node

    def _node_transmit(
        self,
        node: VirtualNode,
        portnum: int,
        payload: bytes,
        to: int = BROADCAST_NUM,
        channel: int = 0,
        want_ack: bool = False,
    ) -> dict[str, Any]:
        """A virtual node transmits; stations hear it at once. Lock held."""
        pid = self._packet_id()
        now = time.time()
        node.last_heard = now
        hop_start = self.settings.hop_limit
        hop_limit = max(0, hop_start - node.hops)
        heard: list[str] = []
        for st in self._stations.values():
            if to not in (BROADCAST_NUM, st.identity.num):
                continue
            pkt = packets.mesh_packet(
                node.num,
                to,
                portnum,
                payload,
                pid,
                channel=channel,
                rx_snr=self._snr(node),
                rx_rssi=self._rssi(node),
                hop_start=hop_start,
                hop_limit=hop_limit,
                want_ack=want_ack and to != BROADCAST_NUM,
                rx_time=now,
            )
            self._deliver(st, pkt)
            heard.append(st.identity.id)
        if portnum == packets.TEXT_MESSAGE_APP:
            text = payload.decode("utf-8", errors="replace")
            for other in self._nodes.values():
                if other is not node and other.online and to in (BROADCAST_NUM, other.num):
                    other.received.append(ReceivedText(node.num, to, channel, text, now))
                    heard.append(other.id)
        return {
            "packet_id": pid,
            "from": node.id,
            "to": destination_id(to),
            "portnum": packets.portnum_name(portnum),
            "payload_bytes": len(payload),
            "heard_by": heard,
        }

    def send_text(
        self, num: int, text: str, to: int = BROADCAST_NUM, channel: int = 0, want_ack: bool = False
    ) -> dict[str, Any]:
        data = text.encode("utf-8")
        if not data:
            raise SimError("text must not be empty")
        if len(data) > MAX_TEXT_BYTES:
            raise SimError(f"text is {len(data)} UTF-8 bytes; a packet carries at most {MAX_TEXT_BYTES}")
        if not 0 <= channel < len(self.settings.channels):
            raise SimError(f"channel {channel} is not configured (0..{len(self.settings.channels) - 1})")
        with self.lock:
            node = self._online_node(num)
            log.info("node %s says %r to %s", node.id, text, destination_id(to))
            return self._node_transmit(node, packets.TEXT_MESSAGE_APP, data, to, channel, want_ack)

    def _report_position(self, node: VirtualNode) -> dict[str, Any]:
        payload = packets.position_pb(node.lat, node.lon, node.altitude).SerializeToString()
        return self._node_transmit(node, packets.POSITION_APP, payload)

    def _report_telemetry(self, node: VirtualNode) -> dict[str, Any]:
        uptime = int(time.time() - node.started)
        payload = packets.telemetry_pb(node.battery, node.effective_voltage, uptime).SerializeToString()
        return self._node_transmit(node, packets.TELEMETRY_APP, payload)

    def _announce(self, node: VirtualNode) -> dict[str, Any]:
        payload = packets.user_pb(
            node.num, node.long_name, node.short_name, node.hw_model, node.role
        ).SerializeToString()
        return self._node_transmit(node, packets.NODEINFO_APP, payload)

    def report_position(
        self,
        num: int,
        lat: float | None = None,
        lon: float | None = None,
        altitude: int | None = None,
    ) -> dict[str, Any]:
        """Move the node (when coordinates are given) and broadcast its position."""
        with self.lock:
            node = self._online_node(num)
            if lat is not None:
                node.lat = lat
            if lon is not None:
                node.lon = lon
            if altitude is not None:
                node.altitude = altitude
            return self._report_position(node)

    def report_telemetry(
        self, num: int, battery: int | None = None, voltage: float | None = None
    ) -> dict[str, Any]:
        """Update battery/voltage (when given) and broadcast DEVICE_METRICS."""
        with self.lock:
            node = self._online_node(num)
            if battery is not None:
                node.battery = battery
                if voltage is None:
                    node.voltage = None
            if voltage is not None:
                node.voltage = voltage
            return self._report_telemetry(node)

    def announce(self, num: int) -> dict[str, Any]:
        """Broadcast the node's NodeInfo (User)."""
        with self.lock:
            return self._announce(self._online_node(num))

    def set_position(self, num: int, lat: float, lon: float) -> None:
        """Move a node without transmitting."""
        with self.lock:
            node = self.node(num)
            node.lat = lat
            node.lon = lon

    def set_battery(self, num: int, battery: int) -> None:
        with self.lock:
            node = self.node(num)
            node.battery = battery

    def set_online(self, num: int, online: bool, report: bool = True) -> VirtualNode:
        """Switch a node on or off the air.  Coming back it reports its position."""
        with self.lock:
            node = self.node(num)
            was = node.online
            node.online = online
            if online and not was:
                log.info("node %s back online", node.id)
                if report:
                    self._report_position(node)
            elif was and not online:
                log.info("node %s went silent", node.id)
            return node

    def is_online(self, num: int) -> bool:
        with self.lock:
            node = self._nodes.get(num)
            return node is not None and node.online

    # Used by the scenario player for periodic reports: silently skips offline nodes.
    def periodic_report(self, num: int, kind: str) -> None:
        with self.lock:
            node = self._nodes.get(num)
            if node is None or not node.online:
                return
            if kind == "position":
                self._report_position(node)
            elif kind == "telemetry":
                self._report_telemetry(node)
            elif kind == "nodeinfo":
                self._announce(node)
