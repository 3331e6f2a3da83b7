"""The station's sync client: outbox up, definitions down, commands, health (MQTT v5).

Threads: paho's network thread runs the callbacks, which only put items on ``inbox``; the
``sync`` thread is the only one that publishes, reads the outbox and decides what to send;
every database write goes to the engine thread through ``engine.call``.

Up: batches of outbox rows (``up/batch``), several in flight; central answers ``down/ack``
with the highest seq up to which it has committed everything; only then are rows deleted.
On every (re)connect, and whenever central's ingest comes back online, the station says
``up/hello`` (its incarnation, acknowledged seq and feed watermark); central answers with its
ack (so rows it already has are released, not re-sent) and the changes since the watermark,
and the station then re-sends everything still unacknowledged. Batches are sent only while a
central ingest worker says it is online (retained ``firefly/v1/central/status/<worker>``), so
a long central outage costs nothing at the broker. If no acknowledgement progresses for
``ack_timeout`` seconds, everything unacknowledged is sent again.

Down: ``down/changes`` (applied atomically with the watermark, see apply.py) and
``down/command`` (see commands.py). Anything malformed goes to ``sync_dead_letters``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from agent.core.db import migrate
from agent.core.models import database, utcnow
from agent.sync import outbox, protocol
from agent.sync.apply import apply_changes
from agent.sync.commands import CommandHandler
from agent.sync.connection import (
    MqttUrl,
    connect,
    disconnect_saying,
    make_client,
    parse_mqtt_url,
)
from agent.sync.health import MqttPublisher, heartbeat_body
from agent.sync.loop import Inbox
from agent.sync.models import HISTORY_TABLE, MIGRATIONS, SyncDeadLetter, prune

if TYPE_CHECKING:
    from agent.station import Station

_LOG = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 30.0
LOCAL_EDITS_SECONDS = 5.0
PRUNE_SECONDS = 6 * 3600.0
WINDOW_BATCHES = 4
ENGINE_TIMEOUT = 60.0


class SyncClient:
    def __init__(self, engine: Any, url: MqttUrl, *, batch_size: int = 200,
                 heartbeat_seconds: float = 30.0, ack_timeout: float = ACK_TIMEOUT_SECONDS) \
            -> None:
        self.engine = engine
        self.services = engine.services
        self.station_id: str = engine.services.station_id
        self.url = url
        self.batch_size = max(1, min(batch_size, protocol.MAX_BATCH_RECORDS))
        self.heartbeat_seconds = heartbeat_seconds
        self.ack_timeout = ack_timeout
        self.inbox = Inbox()  # paho's callbacks and other threads -> the sync thread
        self.connected = False
        self.central: dict[str, bool] = {}  # ingest worker -> online
        self.state = outbox.SyncState("", 0, 0, None)
        self.sent = 0  # highest seq published since the last (re)sync
        self.hello_at: float | None = None  # a hello waits for its ack since then
        self.last_progress = time.monotonic()
        self.started = time.monotonic()
        self.dead_letters = 0
        self.counters: dict[str, int] = dict.fromkeys(
            ("batches", "records_sent", "acks", "resends", "changes", "commands",
             "publish_failures"), 0)
        self.commands = CommandHandler(engine)
        self._next_heartbeat = 0.0
        self._next_local_edits = 0.0
        self._next_prune = time.monotonic() + 60.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        will = (protocol.status_topic(self.station_id),
                protocol.status_payload(self.station_id, "offline"))
        self.client = make_client(url, self.station_id, will=will)
        self.inbox.attach(self.client)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._engine(lambda: migrate(database.obj, [(MIGRATIONS, HISTORY_TABLE)]))
        self.state = self._engine(outbox.load_state)
        self.dead_letters = self._engine(lambda: SyncDeadLetter.select().count())
        self.sent = self.state.acked
        self.services.modules["mqtt"] = MqttPublisher(self)
        connect(self.client, self.url, clean_start=False)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._main, name="sync", daemon=True)
        self._thread.start()
        _LOG.info("sync: station %s connecting to %s (incarnation %s, %d unacknowledged)",
                  self.station_id, self.url.safe, self.state.incarnation,
                  outbox.depth(self.state.acked))

    def stop(self) -> None:
        self._stopping.set()
        self.inbox.put(("stop",))
        if self._thread is not None:
            self._thread.join(10)
        self.client.loop_stop()
        self.services.modules.pop("mqtt", None)

    def _engine(self, fn: Callable[[], Any], timeout: float = ENGINE_TIMEOUT) -> Any:
        future: Future[Any] = self.engine.call(fn)
        return future.result(timeout=timeout)

    # -- the sync thread ----------------------------------------------------------------------

    def _main(self) -> None:
        self.inbox.serve(self._handle, self._tick, poll_seconds=0.2, on_error=self._error,
                         goodbye=self._goodbye)

    def _error(self, exc: Exception, event: tuple[Any, ...] | None) -> None:
        _LOG.error("sync: error while handling %s", event[0] if event else "tick",
                   exc_info=exc)

    def _goodbye(self) -> None:
        disconnect_saying(self.client, (
            protocol.status_topic(self.station_id),
            protocol.status_payload(self.station_id, "offline", utcnow().isoformat()),
        ) if self.connected else None)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "connected":
            self._connected(item[1], item[2])
        elif kind == "disconnected":
            if self.connected:
                _LOG.warning("sync: disconnected from the broker (%s)", item[1])
            self.connected = False
            self.central.clear()
            self.hello_at = None
        elif kind == "message":
            self._message(item[1], item[2])
        elif kind == "publish":
            if self.connected:
                self.client.publish(item[1], item[2], qos=1)
        elif kind == "publish_failed":
            self.counters["publish_failures"] += 1
            _LOG.error("sync: the broker refused a publish (%s): check the station's "
                       "credentials and ACL", item[2])

    def _connected(self, reason: str, failed: bool) -> None:
        if failed:
            _LOG.error("sync: the broker refused the connection: %s", reason)
            return
        self.connected = True
        self.central.clear()
        self.hello_at = None
        self.sent = self.state.acked
        _LOG.info("sync: connected to %s", self.url.safe)
        self.client.subscribe([(topic, 1) for topic in
                               protocol.station_subscriptions(self.station_id)])
        self.client.publish(protocol.status_topic(self.station_id),
                            protocol.status_payload(self.station_id, "online",
                                                    utcnow().isoformat()),
                            qos=1, retain=True)
        self._next_heartbeat = 0.0

    @property
    def central_online(self) -> bool:
        return any(self.central.values())

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(protocol.CENTRAL_STATUS + "/"):
            self._central_status(topic, payload)
            return
        try:
            station, kind, body = protocol.decode_message(topic, payload)
            if station != self.station_id:
                raise protocol.ProtocolError(f"a message for station {station!r}")
            if kind not in protocol.DOWN:
                raise protocol.ProtocolError(f"a {kind!r} message is not for a station")
        except protocol.ProtocolError as exc:
            self._dead_letter(topic, str(exc), payload)
            return
        if kind == protocol.ACK:
            self._ack(body)
        elif kind == protocol.CHANGES:
            self._changes(topic, body)
        elif kind == protocol.COMMAND:
            self.counters["commands"] += 1
            self.engine.call(lambda: self.commands.handle(body))

    def _dead_letter(self, topic: str, reason: str, payload: bytes) -> None:
        self.dead_letters += 1
        _LOG.warning("sync: rejected a message on %s: %s", topic, reason)
        self.engine.call(lambda: SyncDeadLetter.create(topic=topic[:500], reason=reason[:2000],
                                                       payload=payload[:1024]))

    def _central_status(self, topic: str, payload: bytes) -> None:
        worker = topic.rsplit("/", 1)[-1]
        if not payload:
            self.central.pop(worker, None)
            return
        try:
            body = protocol.decode_json(payload, ("state",))
        except protocol.ProtocolError as exc:
            self._dead_letter(topic, str(exc), payload)
            return
        was_online = self.central_online
        self.central[worker] = body["state"] == "online"
        if self.central_online and not was_online:
            _LOG.info("sync: central is online (%s)", worker)
            self.sent = self.state.acked  # whatever was in flight may be lost: re-sync
            self._hello()

    def _hello(self, want_changes: bool = True, wait_ack: bool = True) -> None:
        """Tell central our state; with ``wait_ack``, send no batch until it answers."""
        body = {"station": self.station_id, "inc": self.state.incarnation,
                "acked": self.state.acked, "feed": self.state.feed,
                "want_changes": want_changes, **protocol.hello_versions()}
        self.client.publish(protocol.up_topic(self.station_id, protocol.HELLO),
                            protocol.encode_message(protocol.HELLO, body), qos=1)
        if wait_ack and self.hello_at is None:
            self.hello_at = time.monotonic()

    def _ack(self, body: dict[str, Any]) -> None:
        self.counters["acks"] += 1
        if body["inc"] != self.state.incarnation:
            _LOG.info("sync: ack for incarnation %s ignored", body["inc"])
            return
        if body["upto"] > outbox.max_seq():
            # Central has seqs of this incarnation that this database never wrote: it was
            # restored from an older copy. Start a new incarnation and send again.
            _LOG.warning("sync: central holds seq %d, beyond this database's last; starting a "
                         "new incarnation", body["upto"])
            self.state = self._engine(outbox.new_incarnation)
            self.sent = self.state.acked
            self.hello_at = None
            self._hello()
            return
        if body["upto"] > self.state.acked:
            inc, upto = body["inc"], body["upto"]
            self.state.acked = self._engine(lambda: outbox.release(inc, upto))
            self.state.last_sync = utcnow().isoformat()
            self.last_progress = time.monotonic()
        self.sent = max(self.sent, self.state.acked)
        self.hello_at = None

    def _changes(self, topic: str, body: dict[str, Any]) -> None:
        self.counters["changes"] += 1
        if body["since"] > self.state.feed:
            # A gap (a page was missed): ask again from our watermark.
            self._hello()
            return
        if body["upto"] <= self.state.feed and not body["records"]:
            return
        if body["records"] or body["upto"] > self.state.feed:

            def apply() -> Any:
                result = apply_changes(body, self.station_id, self.services.clock, topic)
                if result.processes:
                    self.engine.reload(result.processes)
                return result

            result = self._engine(apply)
            self.dead_letters += result.rejected
            self.state.feed = max(self.state.feed, body["upto"])
            if result.applied:
                _LOG.info("sync: applied %d changes from central (watermark %d)",
                          result.applied, self.state.feed)
        # Tell central where we are; ask for the next page if there is one.
        self._hello(want_changes=bool(body["more"]), wait_ack=False)

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_local_edits:
            self._next_local_edits = now + LOCAL_EDITS_SECONDS
            self.engine.call(lambda: outbox.queue_local_edits(self.station_id))
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_SECONDS
            self.engine.call(prune)
        if not self.connected:
            return
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_seconds
            self._heartbeat()
        if not self.central_online:
            return
        if self.hello_at is not None:
            if now - self.hello_at > self.ack_timeout:
                self.hello_at = None
                self._hello()
            return
        if self.sent > self.state.acked and now - self.last_progress > self.ack_timeout:
            _LOG.warning("sync: no acknowledgement for %.0f s; re-sending from seq %d",
                         self.ack_timeout, self.state.acked + 1)
            self.counters["resends"] += 1
            self.sent = self.state.acked
            self._hello()
            return
        self._send_batches()

    def _send_batches(self) -> None:
        window = WINDOW_BATCHES * self.batch_size
        while self.sent - self.state.acked < window:
            records = outbox.read_batch(self.sent, self.batch_size)
            if not records:
                return
            # "from": no record of this incarnation lies before the batch's first one.
            first = 1 if self.sent <= self.state.floor else self.sent + 1
            body = {"station": self.station_id, "inc": self.state.incarnation,
                    "from": first, "records": records}
            info = self.client.publish(protocol.up_topic(self.station_id, protocol.BATCH),
                                       protocol.encode_message(protocol.BATCH, body), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            if self.sent == self.state.acked:
                self.last_progress = time.monotonic()
            self.sent = records[-1]["seq"]
            self.counters["batches"] += 1
            self.counters["records_sent"] += len(records)

    # -- health -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return heartbeat_body(self)

    def _heartbeat(self) -> None:
        payload = json.dumps(self.health(), sort_keys=True, default=str).encode()
        self.client.publish(protocol.heartbeat_topic(self.station_id), payload, qos=1,
                            retain=True)


def start_sync(station: Station) -> Callable[[], None] | None:
    """The station adapter (agent.station.ADAPTERS): None when mqtt.url is "none"."""
    config = station.config.mqtt
    url = parse_mqtt_url(config.url, ca_file=config.ca_file)
    if url is None:
        return None
    client = SyncClient(station.engine, url, batch_size=config.batch_size,
                        heartbeat_seconds=config.heartbeat_seconds)
    client.start()
    return client.stop
