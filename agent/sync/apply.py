"""Applying central's "changes" on the station (engine thread, the database's one writer).

A changes message holds fleet-owned records (processes, templates, zones, users, groups,
bots) changed at central since the station's watermark. The whole message is one transaction
with the new watermark; each record is a savepoint of its own, so a process is applied whole
or not at all and one bad record (kept as a dead letter) does not block the others.

Last writer wins on the hybrid logical clock (agent.sync.records.newer). A process that no
longer runs on this station, or was deleted, becomes a local tombstone; its executions and
versions stay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from peewee import IntegrityError

from agent.core.ids import HybridClock
from agent.core.models import Process, ProcessTemplate, database, utcnow
from agent.definitions import DefinitionError
from agent.modules import fleet
from agent.processes import runs_on, save_process
from agent.sync.models import SyncDeadLetter
from agent.sync.outbox import KEY_FEED, get_value, set_feed_watermark
from agent.sync.records import apply_model_record, newer

_LOG = logging.getLogger(__name__)


@dataclass
class Applied:
    applied: int = 0
    unchanged: int = 0
    rejected: int = 0
    processes: list[str] = field(default_factory=list)  # uids to reload in the engine


def apply_process(record: dict[str, Any], station_id: str, result: Applied) -> bool:
    uid, hlc = record["uid"], record["hlc"]
    body = record.get("record") or {}
    local = Process.get_or_none(Process.uid == uid)
    if local is not None and not newer(hlc, local.hlc):
        return False
    definition = body.get("definition")
    stations = body.get("stations") or (definition or {}).get("stations") or []
    origin = str(body.get("origin") or "central")
    if record["deleted"] or definition is None or not runs_on(stations, station_id):
        if local is None or local.deleted:
            return False
        local.deleted, local.hlc, local.origin = True, hlc, origin
        local.updated_at = utcnow()
        local.save()
    else:
        if not isinstance(definition, dict):
            raise DefinitionError([("definition", "must be an object")])
        save_process({**definition, "uid": uid, "stations": stations}, existing=local,
                     origin=origin, hlc=hlc)
    result.processes.append(uid)
    return True


def apply_template(record: dict[str, Any]) -> bool:
    body = record.get("record") or {"uid": record["uid"]}
    return apply_model_record(ProcessTemplate, {**body, "uid": record["uid"],
                                                "hlc": record["hlc"],
                                                "deleted": record["deleted"]})


def apply_fleet(record: dict[str, Any], clock: HybridClock) -> bool:
    body = record.get("record") or {}
    return fleet.apply_remote(record["kind"], {**body, "uid": record["uid"],
                                               "hlc": record["hlc"],
                                               "deleted": record["deleted"]}, clock)


def apply_changes(body: dict[str, Any], station_id: str, clock: HybridClock,
                  topic: str) -> Applied:
    """Apply one checked "changes" body and store its watermark (engine thread)."""
    result = Applied()
    with database.atomic():
        for record in body["records"]:
            kind = record["kind"]
            try:
                clock.observe(record["hlc"])
            except ValueError:
                pass
            try:
                with database.atomic():
                    if kind == "process":
                        done = apply_process(record, station_id, result)
                    elif kind == "template":
                        done = apply_template(record)
                    else:
                        done = apply_fleet(record, clock)
            except (DefinitionError, fleet.InvalidRecord, IntegrityError, ValueError,
                    TypeError, KeyError) as exc:
                result.rejected += 1
                _LOG.warning("sync: %s %s from central not applied: %s", kind, record["uid"],
                             exc)
                SyncDeadLetter.create(topic=topic, reason=f"{kind} {record['uid']}: {exc}"[:2000],
                                      payload=None)
                continue
            if done:
                result.applied += 1
            else:
                result.unchanged += 1
        set_feed_watermark(max(int(get_value(KEY_FEED, 0)), body["upto"]))
    return result
