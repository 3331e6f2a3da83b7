"""Fleet-owned records: local edits go to the outbox; remote versions merge last-writer-wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.codec import decode
from agent.core.ids import HybridClock, format_hlc, parse_hlc
from agent.core.models import Outbox
from agent.core.module_models import Group, User, Zone
from agent.modules.fleet import InvalidRecord, NotFound, apply_remote, record_of
from agent.modules.users import UserService
from agent.modules.zones import ZoneService


def test_local_edits_write_outbox_records_with_a_growing_clock(station_db: Path) -> None:
    clock = HybridClock("hut-1")
    zones = ZoneService("hut-1", clock, {})
    zone = zones.create({"name": "camp", "center_lat": 46.0, "center_lon": 7.0, "radius_m": 50})
    zones.update(zone, {"is_active": False})
    zones.delete(zone)
    records = [decode(o.payload)[1] for o in Outbox.select().order_by(Outbox.seq)]
    assert [(r["is_active"], r["deleted"], r["origin"]) for r in records] == [
        (True, False, "hut-1"), (False, False, "hut-1"), (False, True, "hut-1")]
    assert records[0]["hlc"] < records[1]["hlc"] < records[2]["hlc"]
    assert records[2] == record_of(Zone.get(Zone.uid == zone.uid))


def test_remote_versions_merge_last_writer_wins(station_db: Path) -> None:
    clock = HybridClock("hut-1")
    users = UserService("hut-1", clock)
    medics = users.create_group({"name": "medics"})
    ana, _ = users.create_user({"name": "Ana", "node_ids": ["!0000000a"]})
    local = record_of(ana)
    ms, _counter, _node = parse_hlc(local["hlc"])
    # central's older version of the same user loses; a newer one wins, whole
    older = {**local, "name": "Ana (old)", "hlc": format_hlc(ms - 1000, 0, "central")}
    assert apply_remote("user", older, clock) is False
    newer = {**local, "name": "Ana B.", "groups": [medics.uid], "origin": "central",
             "hlc": format_hlc(ms + 1000, 0, "central")}
    assert apply_remote("user", newer, clock) is True
    stored = User.get(User.uid == ana.uid)
    assert (stored.name, stored.groups, stored.origin) == ("Ana B.", [medics.uid], "central")
    assert users.node_ids_for(group="medics") == ["!0000000a"]
    # the station's clock moved past what it saw: its next edit wins over central's
    assert clock.now() > newer["hlc"]
    # a tombstone is a change like any other; an unknown row is created
    tomb = {**record_of(Group.get(Group.uid == medics.uid)), "deleted": True,
            "hlc": format_hlc(ms + 2000, 0, "central")}
    assert apply_remote("group", tomb) is True
    assert users.node_ids_for(user="Ana B.") == ["!0000000a"]
    with pytest.raises(NotFound, match="no group"):
        users.node_ids_for(group="medics")
    fresh = {"uid": "0190aaaa-0000-7000-8000-000000000001", "hlc": format_hlc(ms, 1, "central"),
             "name": "Ben", "node_ids": [], "groups": [], "created_at": "2026-01-01T10:00:00",
             "updated_at": "2026-01-01T10:00:00+00:00"}
    assert apply_remote("user", fresh) is True
    assert users.find_user("ben").created_at.year == 2026


@pytest.mark.parametrize("kind, record, problem", [
    ("process", {"uid": "u", "hlc": "0000000000001-00000-x"}, "unknown fleet record kind"),
    ("zone", {"hlc": "0000000000001-00000-x"}, "needs a uid and an hlc"),
    ("zone", {"uid": "u", "hlc": "yesterday"}, "is not a clock value"),
])
def test_malformed_records_are_refused(station_db: Path, kind: str, record: dict[str, str],
                                       problem: str) -> None:
    with pytest.raises(InvalidRecord, match=problem):
        apply_remote(kind, record)
