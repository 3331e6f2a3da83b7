"""The outbound queue: persistent, paced, prioritised, coalescing, airtime-budgeted.

Every text the station sends goes through here (table ``outbound_messages``):

- ``enqueue`` runs on the engine thread inside the caller's transaction (send_message, the
  modules' notifications, mesh-command replies). A text is split into parts of at most 232
  UTF-8 bytes; an identical text still pending for the same destination and channel is
  coalesced (nothing new is queued); a text that would not fit the airtime budget of the
  rolling hour (counting what is already pending) is recorded ``over_budget`` at once, so the
  caller's step result says so. Non-emergency texts may use only 1 - EMERGENCY_RESERVE of the
  budget, keeping the rest for priority 0.
- The ``Sender`` thread sends at most one packet per ``send_interval_seconds``, most urgent
  first (priority 0 = emergency, then FIFO), parts in order. It asks the engine thread which
  message is next (``take_next`` spends its airtime from the budget), sends it outside the
  engine thread, and reports back with ``engine.call``: it never writes the database itself.
- Routing ACK/NAKs (``on_routing``) settle a sent message: NONE -> acked; RATE_LIMIT_EXCEEDED
  and DUTY_CYCLE_LIMIT -> pending again with exponential back-off (its airtime refunded: it
  never went on air); any other reason -> failed. Pending messages older than their time to
  live -> expired. Every change is written to the message's row and to the step result of the
  execution that queued it (and that execution goes to the outbox again, for central).

A crash between sending and recording may send a text twice after the restart; a text is never
lost by a restart or a radio disconnection (it stays pending until the radio takes it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from peewee import fn

from agent.core.ids import new_uid
from agent.core.models import database, unix_time, utcnow
from agent.core.station_models import OutboundMessage
from agent.radio.airtime import duty_cycle_percent, get_preset, packet_airtime_ms
from agent.radio.budget import AirtimeBudget
from agent.radio.delivery import report
from agent.radio.packets import BROADCAST_ID, RoutingOutcome
from agent.radio.textsplit import MAX_TEXT_BYTES, split_text, utf8_len

_LOG = logging.getLogger(__name__)

EMERGENCY_PRIORITY = 0
EMERGENCY_RESERVE = 0.1  # share of the budget only priority 0 may use
MAX_PARTS = 8  # a longer text is refused: 8 x 232 bytes is already a lot of airtime
MAX_SEND_ATTEMPTS = 6  # transmissions refused with a retryable NAK, then failed
RETRY_REASONS = {"RATE_LIMIT_EXCEEDED": 5.0, "DUTY_CYCLE_LIMIT": 60.0}  # first back-off, s
# NAKs the radio gives before transmitting: the packet cost no airtime.
NOT_ON_AIR = frozenset({*RETRY_REASONS, "TOO_LARGE", "NO_CHANNEL", "NO_INTERFACE",
                        "BAD_REQUEST", "NOT_AUTHORIZED", "PKI_FAILED", "PKI_UNKNOWN_PUBKEY"})
MAX_BACKOFF_SECONDS = 900.0
# A direct message that ends in MAX_RETRANSMIT went on air this many more times (the firmware's
# NUM_RELIABLE_RETX = 3 transmissions in all): charged to the budget when the NAK arrives.
EXTRA_TRANSMISSIONS_ON_MAX_RETRANSMIT = 2
DEFAULT_TTL_SECONDS = 3600.0
KEEP_DAYS = 7  # settled rows older than this are pruned
IDLE_POLL_SECONDS = 5.0
PENDING = "pending"


@dataclass(frozen=True)
class QueueSettings:
    modem_preset: str = "LONG_FAST"
    budget_ms: float = 360_000.0  # transmit time per rolling hour
    send_interval_seconds: float = 3.0
    want_ack: bool = True  # for direct messages; broadcasts only when asked

    @classmethod
    def from_radio(cls, radio: Any) -> QueueSettings:
        """From the ``[radio]`` config section (agent.config.RadioSection)."""
        get_preset(radio.modem_preset)  # refuse an unknown preset at start-up
        percent = radio.duty_cycle_percent or duty_cycle_percent(radio.region)
        return cls(modem_preset=radio.modem_preset, budget_ms=percent / 100.0 * 3_600_000.0,
                   send_interval_seconds=max(2.1, float(radio.send_interval_seconds)),
                   want_ack=bool(radio.want_ack))


@dataclass(frozen=True)
class Job:
    """One packet for the sender thread."""

    uid: str
    destination: str
    channel: int
    text: str
    want_ack: bool
    airtime_ms: float
    priority: int


def coalesce_key(destination: str, channel: int, text: str) -> str:
    digest = hashlib.sha256(f"{destination}\x1f{channel}\x1f{text}".encode()).hexdigest()
    return digest[:32]


def normalise_destination(destination: str) -> str:
    """``^all`` or a node id ``!xxxxxxxx``; raises ValueError for anything else."""
    text = str(destination).strip().lower()
    if text in ("^all", "all", "broadcast"):
        return BROADCAST_ID
    if text.startswith("!") and len(text) == 9:
        try:
            int(text[1:], 16)
        except ValueError:
            pass
        else:
            return text
    raise ValueError(f"destination {destination!r} is not a node id (!a1b2c3d4) or ^all")


class OutQueue:
    """The queue's logic; every method except ``wake``/``status`` runs on the engine thread."""

    def __init__(self, settings: QueueSettings | None = None, engine: Any = None) -> None:
        self.settings = settings or QueueSettings()
        self.engine = engine
        self.budget = AirtimeBudget(self.settings.budget_ms)
        self.wake = threading.Event()  # set when something may have become sendable
        self._inflight: dict[str, float] = {}  # uid -> airtime reserved, handed to the sender
        self._early: OrderedDict[int, RoutingOutcome] = OrderedDict()  # NAK before mark_sent
        self._hold_until = 0.0  # the radio said DUTY_CYCLE_LIMIT: wait before sending more
        self._holds = 0
        self.used_ms = 0.0  # the budget used, as of the last change (read by other threads)
        self.counters: dict[str, int] = dict.fromkeys(
            ("queued", "coalesced", "over_budget", "sent", "acked", "failed", "expired",
             "retried"), 0)
        self.pending = 0

    def configure(self, settings: QueueSettings) -> None:
        self.settings = settings
        self.budget.limit_ms = settings.budget_ms

    # -- enqueue (engine thread, caller's transaction) -----------------------------------------

    def enqueue(self, *, destination: str, text: str, channel: int = 0, priority: int = 5,
                want_ack: bool | None = None, ttl_seconds: float | None = None,
                execution_uid: str | None = None, action_order: int | None = None,
                step_attempt: int | None = None, coalesce_key: str | None = None,
                now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Queue ``text`` for one destination; one entry per part (see the module docstring).

        Entries: uid, group_uid, to, channel, part, parts, bytes, airtime_ms, priority,
        want_ack, status (pending, over_budget or coalesced), outcome. Raises ValueError for a
        bad destination, channel, priority or a text that is empty or too long.
        """
        dest = normalise_destination(destination)
        if not isinstance(channel, int) or not 0 <= channel <= 7:
            raise ValueError(f"channel {channel!r}: must be 0..7")
        if not isinstance(priority, int) or not 0 <= priority <= 9:
            raise ValueError(f"priority {priority!r}: must be 0 (emergency) .. 9")
        if not text or not text.strip():
            raise ValueError("text is empty")
        parts = split_text(text, MAX_TEXT_BYTES)
        if len(parts) > MAX_PARTS:
            raise ValueError(f"text of {utf8_len(text)} bytes needs {len(parts)} parts; at most "
                             f"{MAX_PARTS} are sent (each at most {MAX_TEXT_BYTES} bytes)")
        now = now or utcnow()
        key = coalesce_key or _default_key(dest, channel, text)
        existing = list(OutboundMessage.select().where(
            (OutboundMessage.coalesce_key == key) & (OutboundMessage.status == PENDING)
            & (OutboundMessage.destination == dest)).order_by(OutboundMessage.id))
        if existing and existing[0].part == 1:
            self.counters["coalesced"] += 1
            return [{**_entry(row), "status": "coalesced", "coalesced_with": row.uid}
                    for row in existing]
        ack = want_ack if want_ack is not None else (self.settings.want_ack and dest != BROADCAST_ID)
        preset = self.settings.modem_preset
        airtimes = [round(packet_airtime_ms(utf8_len(p), preset), 3) for p in parts]
        reason = self._over_budget(sum(airtimes), priority, now)
        status = "over_budget" if reason else PENDING
        group = new_uid()
        ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else max(1.0, float(ttl_seconds))
        entries = []
        for number, (part, airtime) in enumerate(zip(parts, airtimes, strict=True), 1):
            row = OutboundMessage.create(
                destination=dest, channel=channel, text=part, priority=priority, status=status,
                created_at=now, send_after=now, want_ack=ack, outcome=reason,
                airtime_ms=airtime, part=number, parts=len(parts), coalesce_key=key,
                group_uid=group, execution_uid=execution_uid, action_order=action_order,
                step_attempt=step_attempt, expires_at=now + dt.timedelta(seconds=ttl))
            entries.append(_entry(row))
        self.counters["over_budget" if reason else "queued"] += 1
        if not reason:
            self.pending += len(parts)
            self.wake.set()
        return entries

    def _over_budget(self, airtime_ms: float, priority: int, now: dt.datetime) -> str | None:
        limit = self.settings.budget_ms
        if priority != EMERGENCY_PRIORITY:
            limit *= 1.0 - EMERGENCY_RESERVE
        used = self.budget.used_ms(unix_time(now))
        pending = OutboundMessage.select(fn.SUM(OutboundMessage.airtime_ms)).where(
            OutboundMessage.status == PENDING).scalar() or 0.0
        reserved = max(0.0, float(pending) - sum(self._inflight.values()))
        if used + reserved + airtime_ms <= limit + 1e-9:
            return None
        return (f"airtime budget: {airtime_ms:.0f} ms needed, {used:.0f} ms sent and "
                f"{reserved:.0f} ms queued in the last hour, limit {limit:.0f} ms")

    # -- the sender's questions (engine thread) ------------------------------------------------

    def take_next(self, now: dt.datetime | None = None) -> Job | float:
        """The next packet to send (its airtime spent), or seconds to wait before asking again."""
        now = now or utcnow()
        stamp = unix_time(now)
        self._expire(now)
        if stamp < self._hold_until:
            return self._hold_until - stamp
        candidates = (OutboundMessage.select()
                      .where((OutboundMessage.status == PENDING)
                             & (OutboundMessage.send_after <= now))
                      .order_by(OutboundMessage.priority, OutboundMessage.id).limit(50))
        for row in candidates:
            if row.uid in self._inflight or self._earlier_part_pending(row):
                continue
            airtime = float(row.airtime_ms or 0.0)
            if not self.budget.fits(airtime, stamp):
                wait = self.budget.seconds_until_fits(airtime, stamp)
                return min(IDLE_POLL_SECONDS, wait if wait is not None else IDLE_POLL_SECONDS)
            self.budget.spend(airtime, stamp, row.uid)
            self.used_ms = self.budget.used_ms(stamp)
            self._inflight[row.uid] = airtime
            return Job(uid=row.uid, destination=row.destination, channel=row.channel,
                       text=row.text, want_ack=row.want_ack, airtime_ms=airtime,
                       priority=row.priority)
        later = (OutboundMessage.select(fn.MIN(OutboundMessage.send_after))
                 .where(OutboundMessage.status == PENDING).scalar())
        if isinstance(later, dt.datetime) and later > now:
            return min(IDLE_POLL_SECONDS, max(0.05, (later - now).total_seconds()))
        return IDLE_POLL_SECONDS

    @staticmethod
    def _earlier_part_pending(row: OutboundMessage) -> bool:
        if row.part <= 1 or row.group_uid is None:
            return False
        return bool(OutboundMessage.select().where(
            (OutboundMessage.group_uid == row.group_uid) & (OutboundMessage.part < row.part)
            & (OutboundMessage.status == PENDING)).exists())

    def mark_sent(self, uid: str, packet_id: int, now: dt.datetime | None = None) -> None:
        """The radio took the packet (engine thread)."""
        self._inflight.pop(uid, None)
        row = OutboundMessage.get_or_none(OutboundMessage.uid == uid)
        if row is None:
            return
        with database.atomic():
            row.status, row.sent_at, row.packet_id = "sent", now or utcnow(), packet_id
            row.send_attempts += 1
            row.outcome = None
            row.save()
            self.pending = max(0, self.pending - 1)
            self.counters["sent"] += 1
            early = self._early.pop(packet_id, None)
            if early is not None:
                self._settle(row, early)
            report([row])

    def mark_unsent(self, uid: str, reason: str) -> None:
        """The radio did not take the packet: it stays pending, its airtime is refunded."""
        self._inflight.pop(uid, None)
        self.budget.refund(uid)
        self.used_ms = self.budget.used_ms(time.time())
        with database.atomic():
            OutboundMessage.update(outcome=f"not sent yet: {reason}"[:500]).where(
                (OutboundMessage.uid == uid) & (OutboundMessage.status == PENDING)).execute()

    def on_routing(self, outcome: RoutingOutcome) -> None:
        """A routing ACK/NAK arrived for a packet we sent (engine thread)."""
        row = OutboundMessage.get_or_none((OutboundMessage.packet_id == outcome.request_id)
                                          & (OutboundMessage.status == "sent"))
        if row is None:
            if not OutboundMessage.select().where(
                    OutboundMessage.packet_id == outcome.request_id).exists():
                self._early[outcome.request_id] = outcome  # before mark_sent got here
                while len(self._early) > 256:
                    self._early.popitem(last=False)
            return
        with database.atomic():
            self._settle(row, outcome)
            report([row])

    def _settle(self, row: OutboundMessage, outcome: RoutingOutcome) -> None:
        reason = outcome.reason
        if reason == "NONE":
            implicit = row.destination == BROADCAST_ID  # a broadcast: a relay was heard
            row.status, row.outcome = "acked", "implicit ACK" if implicit else "ACK"
            self.counters["acked"] += 1
        elif reason in RETRY_REASONS and row.send_attempts < MAX_SEND_ATTEMPTS:
            self.budget.refund(row.uid)  # refused before it went on air
            backoff = min(MAX_BACKOFF_SECONDS,
                          RETRY_REASONS[reason] * 2 ** max(0, row.send_attempts - 1))
            row.status, row.outcome = PENDING, f"{reason}: retry in {backoff:g} s"
            row.send_after = utcnow() + dt.timedelta(seconds=backoff)
            row.packet_id = None
            self.pending += 1
            self.counters["retried"] += 1
            if reason == "DUTY_CYCLE_LIMIT":
                self._holds += 1
                self._hold_until = time.time() + min(MAX_BACKOFF_SECONDS,
                                                     backoff * 2 ** (self._holds - 1))
            else:
                self._holds = 0
        else:
            if reason in NOT_ON_AIR:
                self.budget.refund(row.uid)
            elif reason == "MAX_RETRANSMIT":
                extra = EXTRA_TRANSMISSIONS_ON_MAX_RETRANSMIT * float(row.airtime_ms or 0.0)
                self.budget.spend(extra, time.time(), f"{row.uid}:retransmissions")
            row.status, row.outcome = "failed", reason
            self.counters["failed"] += 1
        row.save()
        self.used_ms = self.budget.used_ms(time.time())

    def _expire(self, now: dt.datetime) -> None:
        rows = list(OutboundMessage.select().where(
            (OutboundMessage.status == PENDING) & (OutboundMessage.expires_at < now)).limit(500))
        rows = [r for r in rows if r.uid not in self._inflight]
        if not rows:
            return
        with database.atomic():
            for row in rows:
                row.status = "expired"
                row.outcome = "not sent within its time to live" + (
                    f"; last: {row.outcome}" if row.outcome else "")
                row.save(only=[OutboundMessage.status, OutboundMessage.outcome])
            self.pending = max(0, self.pending - len(rows))
            self.counters["expired"] += len(rows)
            report(rows)
        _LOG.warning("outbound queue: %d message part(s) expired unsent", len(rows))

    # -- start-up and upkeep (engine thread) ---------------------------------------------------

    def load(self, now: dt.datetime | None = None) -> None:
        """Rebuild the budget from what was sent in the last hour (after a restart)."""
        now = now or utcnow()
        since = now - dt.timedelta(seconds=self.budget.window)
        on_air = OutboundMessage.status.in_(("sent", "acked")) | (
            (OutboundMessage.status == "failed")
            & OutboundMessage.outcome.not_in(tuple(NOT_ON_AIR)))
        sent = (OutboundMessage.select()
                .where((OutboundMessage.sent_at >= since) & on_air)
                .order_by(OutboundMessage.sent_at))
        for row in sent:
            if row.sent_at is not None:
                self.budget.spend(float(row.airtime_ms or 0.0), unix_time(row.sent_at), row.uid)
        self.pending = OutboundMessage.select().where(OutboundMessage.status == PENDING).count()
        self.used_ms = self.budget.used_ms(unix_time(now))
        self.wake.set()

    def prune(self, now: dt.datetime | None = None) -> int:
        cutoff = (now or utcnow()) - dt.timedelta(days=KEEP_DAYS)
        with database.atomic():
            return int(OutboundMessage.delete().where(
                (OutboundMessage.status != PENDING) & (OutboundMessage.created_at < cutoff))
                .execute())

    def status(self) -> dict[str, Any]:
        """For health and `!status` (any thread: in-memory figures, as of the last change)."""
        now = time.time()
        return {
            "pending": self.pending,
            "budget_ms": round(self.budget.limit_ms),
            "airtime_used_ms": round(self.used_ms),
            "held_for_seconds": round(max(0.0, self._hold_until - now), 1),
            **self.counters,
        }


def _entry(row: OutboundMessage) -> dict[str, Any]:
    return {"uid": row.uid, "group_uid": row.group_uid, "to": row.destination,
            "channel": row.channel, "part": row.part, "parts": row.parts,
            "bytes": utf8_len(row.text), "airtime_ms": row.airtime_ms, "priority": row.priority,
            "want_ack": row.want_ack, "status": row.status, "outcome": row.outcome}


def _default_key(destination: str, channel: int, text: str) -> str:
    return coalesce_key(destination, channel, text)
