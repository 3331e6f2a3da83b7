"""Through the real radio path: firefly-sim moves a node across a zone's edge; zone_entry fires
once (not on GPS jitter), zone_exit once, and the node became a user on first hearing."""

from __future__ import annotations

from typing import Any

from agent.core.models import ProcessExecution, database
from agent.core.station_models import Position
from tests.modules.modules_support import offset
from tests.radio.conftest import ANNA, Sim, StationFactory, on_engine, sim, station_factory
from tests.support import wait_until

__all__ = ["sim", "station_factory"]  # the simulator fixtures, shared with the radio tests

CENTRE = (46.6000, 7.9077)


def _logger(name: str, trigger_type: str) -> dict[str, Any]:
    return {"name": name, "mode": "queued", "max": 50,
            "triggers": [{"trigger_type": trigger_type, "trigger_config": {"zone": "avalanche"}}],
            "actions": [{"action_type": "log",
                         "action_config": {"message": "{{ event.user }} {{ event.type }}"}}]}


def test_simulated_node_crossing_a_zone_fires_entry_and_exit_once(
        sim: Sim, station_factory: StationFactory) -> None:
    station = station_factory([_logger("entry", "zone_entry"), _logger("exit", "zone_exit")])
    zones = station.services.modules["zones"]

    def create_zone() -> None:
        with database.atomic():
            zones.create({"name": "avalanche", "center_lat": CENTRE[0], "center_lon": CENTRE[1],
                          "radius_m": 300, "margin_m": 25})

    on_engine(station, create_zone)
    path = [900, 320, 290, 310, 285, 150, 310, 290, 318, 284, 900]  # metres from the centre
    for i, distance in enumerate(path, 1):
        lat, lon = offset(*CENTRE, north_m=-distance)
        sim.node(ANNA, "position", {"lat": lat, "lon": lon})
        wait_until(lambda n=i: on_engine(station, lambda: Position.select().where(
            Position.node_id == ANNA).count()) >= n, 20, message=f"position {i} received")

    def runs(trigger: str) -> list[ProcessExecution]:
        return on_engine(station, lambda: list(ProcessExecution.select().where(
            (ProcessExecution.trigger_type == trigger)
            & (ProcessExecution.status == "completed"))))

    wait_until(lambda: runs("zone_exit"), 20, message="zone_exit")
    station.engine.call(lambda: None).result(timeout=30)
    [entered], [left] = runs("zone_entry"), runs("zone_exit")
    assert entered.trigger_event["data"]["user"] == "Anna Hiker"
    assert entered.trigger_event["data"]["distance_m"] > 25
    assert left.trigger_event["data"]["distance_m"] < -25
    assert entered.id < left.id
