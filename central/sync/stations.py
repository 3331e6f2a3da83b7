"""The station registry at central: status, heartbeats, health, and the API's view of it.

A station is known from its first message. ``online`` follows its retained status topic
(the broker publishes the will, ``offline``, when the station vanishes); ``last_seen`` is
its last message of any kind; heartbeats carry the outbox depth, last sync, radio state,
airtime and engine load; its hello, the agent version and protocol version it speaks (see
docs/protocol.md).
"""

from __future__ import annotations

import json
from typing import Any

from agent.core.models import Process, utcnow
from agent.processes import runs_on
from agent.sync.protocol import VERSION
from central.models import CentralCommand
from central.sync.feed import write_transaction
from central.sync.ingest import ensure_station
from central.sync.models import SyncDeadLetter, SyncStation
from central.sync.rows import tuples

AGENT_VERSION_MAX = 64
MINOR_MAX = 2**31 - 1
HEARTBEAT_KEYS = ("outbox_depth", "last_sync", "radio", "airtime_used", "engine",
                  "dead_letters", "incarnation", "feed_watermark")


def record_status(station: str, body: dict[str, Any], live: bool = True) -> None:
    """A status message; ``live`` False for a retained one replayed by the broker."""
    state = body.get("state")
    now = utcnow()
    with write_transaction():
        ensure_station(station)
        values: dict[str, Any] = {"status_at": now}
        if state in ("online", "offline"):
            values["online"] = state == "online"
        if state == "online" and live:
            values["last_seen"] = now
        SyncStation.update(**values).where(SyncStation.station_id == station).execute()


def record_heartbeat(station: str, body: dict[str, Any], live: bool = True) -> None:
    """A heartbeat; a retained one (``live`` False) does not count as the station being seen."""
    now = utcnow()
    depth = body.get("outbox_depth")
    airtime = body.get("airtime_used")
    radio = body.get("radio")
    seen = {"last_seen": now, "heartbeat_at": now} if live else {}
    with write_transaction():
        ensure_station(station)
        SyncStation.update(
            **seen,
            heartbeat={k: body.get(k) for k in body if len(str(k)) <= 64},
            outbox_depth=depth if isinstance(depth, int) and not isinstance(depth, bool)
            and 0 <= depth < 2**62 else None,
            radio=radio if isinstance(radio, dict) else None,
            airtime_used=None if airtime is None else json.dumps(airtime)[:1000],
        ).where(SyncStation.station_id == station).execute()


def clean_version(value: Any) -> str | None:
    """A reported software version as stored: printable text, at most 64 characters."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable())[:AGENT_VERSION_MAX]
    return text or None


def record_hello(station: str, incarnation: str, feed: int, *,
                 agent_version: str | None = None, protocol_minor: int = 0) -> bool:
    """A hello. ``agent_version`` and ``protocol_minor`` are what it reports (a 1.0 station
    reports neither: minor 0, version unknown). True when they differ from the stored ones
    (a new station, or one that was upgraded or downgraded)."""
    now = utcnow()
    reported = (clean_version(agent_version), min(max(protocol_minor, 0), MINOR_MAX))
    with write_transaction():
        ensure_station(station)
        before = tuples(SyncStation.select(SyncStation.agent_version, SyncStation.protocol_minor)
                        .where(SyncStation.station_id == station))
        SyncStation.update(last_seen=now, online=True, incarnation=incarnation,
                           feed_watermark=max(0, feed), agent_version=reported[0],
                           protocol_minor=reported[1]).where(
            SyncStation.station_id == station).execute()
    return not before or before[0] != reported


def known_station_ids() -> list[str]:
    return [str(row[0]) for row in tuples(SyncStation.select(SyncStation.station_id)
                                          .order_by(SyncStation.station_id))]


def online_stations() -> list[SyncStation]:
    return list(SyncStation.select().where(SyncStation.online == True))  # noqa: E712


def assigned_processes(station: str, processes: list[Process] | None = None) \
        -> list[dict[str, Any]]:
    rows = processes if processes is not None else list(
        Process.select().where(~Process.deleted).order_by(Process.id))
    return [{"id": p.id, "uid": p.uid, "name": p.name, "is_active": p.is_active}
            for p in rows if runs_on(p.stations, station)]


def _airtime(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def station_view(row: SyncStation, processes: list[Process] | None = None,
                 detail: bool = False) -> dict[str, Any]:
    heartbeat = row.heartbeat or {}
    view: dict[str, Any] = {
        "id": row.station_id,
        "online": bool(row.online),
        "last_seen": row.last_seen,
        "last_sync": row.last_sync,
        "outbox_depth": row.outbox_depth,
        "radio_state": row.radio,
        "airtime_used": _airtime(row.airtime_used),
        "engine": heartbeat.get("engine"),
        "heartbeat_at": row.heartbeat_at,
        "first_seen": row.first_seen,
        "incarnation": row.incarnation,
        "records_ingested": int(row.records_ingested),
        "dead_letters": int(row.dead_letters),
        "agent_version": row.agent_version,
        "protocol_version": None if row.protocol_minor is None
        else f"{VERSION}.{row.protocol_minor}",
        "assigned_processes": assigned_processes(row.station_id, processes),
    }
    if detail:
        view["heartbeat"] = heartbeat
        view["feed_watermark"] = int(row.feed_watermark)
        view["commands"] = [
            {"uid": c.uid, "kind": c.kind, "process_uid": c.process_uid,
             "execution_uid": c.execution_uid, "status": c.status, "created_at": c.created_at,
             "expires_at": c.expires_at, "updated_at": c.updated_at}
            for c in CentralCommand.select().where(CentralCommand.station_id == row.station_id)
            .order_by(CentralCommand.id.desc()).limit(50)]
        view["recent_dead_letters"] = [
            {"received_at": d.received_at, "topic": d.topic, "reason": d.reason}
            for d in SyncDeadLetter.select().where(SyncDeadLetter.station_id == row.station_id)
            .order_by(SyncDeadLetter.id.desc()).limit(20)]
    return view
