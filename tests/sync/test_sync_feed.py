"""The definition feed: each station gets what is assigned to it, changes since a watermark."""

from __future__ import annotations

from agent.core.ids import HybridClock
from agent.core.models import ProcessTemplate
from agent.core.module_models import Zone
from agent.processes import save_process
from central.sync.feed import changes_for, note_change, reconcile
from tests.sync.sync_support import LOG_PROCESS

CLOCK = HybridClock("central")


def process(name: str, stations: list[str]) -> str:
    return str(save_process({**LOG_PROCESS, "name": name, "stations": stations},
                            origin="central", hlc=CLOCK.now()).uid)


def kinds_and_names(records: list[dict[str, object]]) -> set[tuple[object, ...]]:
    out = set()
    for r in records:
        body = r["record"] if isinstance(r["record"], dict) else {}
        name = (body.get("definition") or {}).get("name") if r["kind"] == "process" \
            else body.get("name")
        out.add((r["kind"], name, r["deleted"]))
    return out


def test_each_station_gets_what_is_assigned_to_it(central_db: str) -> None:
    ours = process("Ours", ["st01"])
    process("Theirs", ["st02"])
    process("Everyone", ["*"])
    ProcessTemplate.create(name="Evacuation", template_data={}, hlc=CLOCK.now())
    Zone.create(name="North", center_lat=46.5, center_lon=7.9, radius_m=500, hlc=CLOCK.now())
    assert reconcile(CLOCK) == 5
    assert reconcile(CLOCK) == 0  # nothing changed since
    records, upto, more = changes_for("st01", 0)
    assert not more
    assert kinds_and_names(records) == {("process", "Ours", False),
                                        ("process", "Everyone", False),
                                        ("template", "Evacuation", False),
                                        ("zone", "North", False)}
    assert ("process", "Theirs", False) in kinds_and_names(changes_for("st02", 0)[0])
    assert changes_for("st01", upto) == ([], upto, False)

    # Taken away from st01: st01 receives a tombstone, st02 the definition.
    save_process({**LOG_PROCESS, "uid": ours, "name": "Ours", "stations": ["st02"]},
                 existing=None, origin="central", hlc=CLOCK.now())
    assert note_change("process", ours, CLOCK)
    assert not note_change("process", ours, CLOCK)
    records, _, _ = changes_for("st01", upto)
    assert [(r["uid"], r["deleted"], r["record"]) for r in records] == [(ours, True, None)]
    records, _, _ = changes_for("st02", upto)
    assert kinds_and_names(records) == {("process", "Ours", False)}


def test_changes_come_in_pages(central_db: str) -> None:
    for i in range(5):
        process(f"P{i}", ["*"])
    reconcile(CLOCK)
    seen: list[str] = []
    since, more = 0, True
    while more:
        records, since, more = changes_for("st01", since, limit=2)
        assert len(records) <= 2
        seen += [r["record"]["definition"]["name"] for r in records]
    assert seen == [f"P{i}" for i in range(5)]
