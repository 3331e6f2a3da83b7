"""A central sync worker: one MQTT connection and one thread that ingests and answers.

Several workers (threads or processes, each with its own ``worker_id``) share the stations'
messages through MQTT shared subscriptions (``$share/central/...``): each message goes to one
of them. paho's network thread only enqueues; the worker thread decodes, writes the database,
commits and then publishes (acks, changes, commands) - the only thread that publishes.

One worker is the ``leader`` (the one inside ``firefly-central serve``): it also pushes live
definition changes to online stations, delivers new commands, expires old ones and
reconciles the change log. The others only answer what they receive.

While connected, a worker keeps ``firefly/v1/central/status/<worker_id>`` = online (retained,
will: offline): stations send batches only while some worker is online.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from peewee import InterfaceError, OperationalError

from agent.core.ids import HybridClock
from agent.core.models import database, utcnow
from agent.sync import protocol
from agent.sync.connection import MqttUrl, connect, disconnect_saying, make_client
from agent.sync.loop import Inbox
from central.sync import commands, feed, stations
from central.sync.feed import write_transaction
from central.sync.ingest import (
    dead_letter,
    ensure_station,
    forget_dead_letters,
    ingest_batch,
    watermark_of,
)

_LOG = logging.getLogger(__name__)

Changed = Callable[[str, str], None]
PRUNE_SECONDS = 6 * 3600.0


class SyncWorker:
    def __init__(self, url: MqttUrl, worker_id: str, clock: HybridClock, *, leader: bool = True,
                 on_changed: Changed | None = None, shared: bool = True,
                 tick_seconds: float = 2.0, reconcile_seconds: float = 30.0) -> None:
        self.url = url
        self.worker_id = protocol.check_station_id(worker_id)
        self.clock = clock
        self.leader = leader
        self.on_changed = on_changed
        self.shared = shared
        self.tick_seconds = tick_seconds
        self.reconcile_seconds = reconcile_seconds
        self.inbox = Inbox()  # paho's callbacks and other threads -> the worker thread
        self.connected = False
        self.pushed: dict[str, int] = {}  # station -> change seq pushed to it
        self.counters: dict[str, int] = dict.fromkeys(
            ("batches", "records", "duplicates", "rejected", "dead_letters", "hellos"), 0)
        self._next_tick = 0.0
        self._next_reconcile = 0.0
        self._next_prune = time.monotonic() + 60.0
        self._thread: threading.Thread | None = None
        will = (protocol.central_status_topic(worker_id),
                protocol.central_status_payload(worker_id, "offline"))
        self.client = make_client(url, worker_id, will=will)
        self.inbox.attach(self.client)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        connect(self.client, self.url, clean_start=True, session_expiry=0)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._main, name=f"sync-{self.worker_id}",
                                        daemon=True)
        self._thread.start()
        _LOG.info("sync worker %s connecting to %s (leader: %s)", self.worker_id,
                  self.url.safe, self.leader)

    def stop(self) -> None:
        self.inbox.put(("stop",))
        if self._thread is not None:
            self._thread.join(10)
        self.client.loop_stop()

    def notify(self, kind: str, uid: str) -> None:
        """ctx.on_change hook: a fleet-owned record changed at central (any thread)."""
        self.inbox.put(("changed", kind, uid))

    # -- the worker thread --------------------------------------------------------------------

    def _main(self) -> None:
        self.inbox.serve(self._handle, self._tick, poll_seconds=0.5, on_error=self._error,
                         goodbye=self._goodbye)

    def _tick(self) -> None:
        if self.leader:
            self._leader_tick()

    def _error(self, exc: Exception, event: tuple[Any, ...] | None) -> None:
        if isinstance(exc, OperationalError | InterfaceError):
            _LOG.error("sync worker %s: database error; reconnecting", self.worker_id,
                       exc_info=exc)
            self._reconnect_database()
        else:
            _LOG.error("sync worker %s: error while handling %s", self.worker_id,
                       event[0] if event else "tick", exc_info=exc)

    def _reconnect_database(self) -> None:
        try:
            database.close()
        except Exception:  # noqa: BLE001 - it is being replaced
            pass
        time.sleep(0.5)
        try:
            database.connect(reuse_if_open=True)
        except Exception:  # noqa: BLE001 - retried on the next error
            _LOG.exception("sync worker %s: database still unavailable", self.worker_id)

    def _goodbye(self) -> None:
        disconnect_saying(self.client, (
            protocol.central_status_topic(self.worker_id),
            protocol.central_status_payload(self.worker_id, "offline", utcnow().isoformat()),
        ) if self.connected else None)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "message":
            self._message(item[1], item[2], item[3])
        elif kind == "connected":
            if item[2]:
                _LOG.error("sync worker %s: the broker refused the connection: %s",
                           self.worker_id, item[1])
                return
            self.connected = True
            self.client.subscribe([(f, 1) for f in protocol.central_subscriptions(self.shared)])
            self.client.publish(protocol.central_status_topic(self.worker_id),
                                protocol.central_status_payload(self.worker_id, "online",
                                                                utcnow().isoformat()),
                                qos=1, retain=True)
            self.pushed.clear()
            _LOG.info("sync worker %s connected", self.worker_id)
        elif kind == "disconnected":
            self.connected = False
            _LOG.warning("sync worker %s disconnected (%s)", self.worker_id, item[1])
        elif kind == "changed" and item[1] in feed.FEED_MODELS:
            feed.note_change(item[1], item[2], self.clock)
            self._next_tick = 0.0
        elif kind == "publish_failed":  # the station's next hello gets a fresh answer
            _LOG.warning("sync worker %s: the broker refused a publish: %s", self.worker_id,
                         item[2])

    def _publish(self, station: str, kind: str, body: dict[str, Any]) -> None:
        self.client.publish(protocol.down_topic(station, kind),
                            protocol.encode_message(kind, body), qos=1)

    def _reject(self, topic: str, reason: str, payload: bytes) -> None:
        self.counters["dead_letters"] += 1
        _LOG.warning("sync: rejected a message on %s: %s", topic, reason)
        try:
            station, _leaf = protocol.parse_station_topic(topic)
        except protocol.ProtocolError:
            station = ""
        with write_transaction():
            if station:
                ensure_station(station)
            dead_letter(station, topic, reason, payload)

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            station, leaf = protocol.parse_station_topic(topic)
            if leaf in (protocol.STATUS_LEAF, protocol.HEARTBEAT_LEAF):
                body = protocol.decode_json(payload, ("station", "state"))
                if body["station"] != station:
                    raise protocol.ProtocolError(f"station {body['station']!r} in a message "
                                                 f"on {station!r}'s topic")
                if leaf == protocol.STATUS_LEAF:
                    stations.record_status(station, body, live=not retained)
                else:
                    stations.record_heartbeat(station, body, live=not retained)
                return
            station, kind, body = protocol.decode_message(topic, payload)
            if kind not in protocol.UP:
                raise protocol.ProtocolError(f"a {kind!r} message is not for central")
        except protocol.ProtocolError as exc:
            self._reject(topic, str(exc), payload)
            return
        if kind == protocol.BATCH:
            self._batch(station, body, topic)
        else:
            self._hello(station, body)

    def _batch(self, station: str, body: dict[str, Any], topic: str) -> None:
        result = ingest_batch(station, body, topic, self.clock)
        self.counters["batches"] += 1
        self.counters["records"] += result.stored
        self.counters["duplicates"] += result.duplicates
        self.counters["rejected"] += result.rejected
        self._publish(station, protocol.ACK, {"station": station, "inc": result.incarnation,
                                              "upto": result.upto, "last": result.last})
        for kind, uid in result.changed:
            if self.on_changed is not None:
                self.on_changed(kind, uid)
        if result.changed:
            self._next_tick = 0.0

    def _hello(self, station: str, body: dict[str, Any]) -> None:
        self.counters["hellos"] += 1
        minor, agent_version = body.get("protocol_minor", 0), body.get("agent_version")
        if stations.record_hello(station, body["inc"], body["feed"],
                                 agent_version=agent_version, protocol_minor=minor):
            problem = protocol.minor_problem(minor)
            _LOG.log(logging.WARNING if problem else logging.INFO,
                     "sync: station %s runs agent %s, protocol %d.%d%s", station,
                     stations.clean_version(agent_version) or "(version not reported)",
                     protocol.VERSION, minor, f": {problem}" if problem else "")
        self._publish(station, protocol.ACK, {"station": station, "inc": body["inc"],
                                              "upto": watermark_of(station, body["inc"]),
                                              "last": 0})
        if body.get("want_changes", True):
            self._send_changes(station, body["feed"])
        self._deliver(station, commands.open_commands(station))

    def _send_changes(self, station: str, since: int) -> None:
        records, upto, more = feed.changes_for(station, since)
        if not records and upto <= since:
            return
        self._publish(station, protocol.CHANGES, {"station": station, "since": since,
                                                  "upto": upto, "more": more,
                                                  "records": records})
        self.pushed[station] = max(self.pushed.get(station, 0), upto)

    def _deliver(self, station: str, open_commands: list[Any]) -> None:
        for command in open_commands:
            self._publish(station, protocol.COMMAND, commands.command_body(command))
        commands.mark_delivered([c.uid for c in open_commands if c.status == "pending"])

    # -- leader duties ------------------------------------------------------------------------

    def _leader_tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_SECONDS
            forget_dead_letters()
        if now >= self._next_reconcile:
            self._next_reconcile = now + self.reconcile_seconds
            noted = feed.reconcile(self.clock)
            if noted:
                _LOG.info("sync: %d fleet records noted by reconciliation", noted)
                self._next_tick = 0.0
        if now < self._next_tick or not self.connected:
            return
        self._next_tick = now + self.tick_seconds
        commands.expire_commands()
        online = stations.online_stations()
        latest = feed.latest_seq()
        pending: dict[str, list[Any]] = {}
        for command in commands.open_commands():
            if command.status == "pending":
                pending.setdefault(command.station_id, []).append(command)
        for station in online:
            sid = station.station_id
            if latest > max(int(station.feed_watermark), self.pushed.get(sid, 0)):
                self._send_changes(sid, int(station.feed_watermark))
            if sid in pending:
                self._deliver(sid, pending[sid])
