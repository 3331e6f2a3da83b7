"""The seed's process API: create, read, list, update, deactivate, with validation and audit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from agent import definitions
from agent.core.models import Process, ProcessAction, ProcessVersion, database
from agent.engine.registry import ACTION_TYPES, ActionType
from central.models import AuditLog
from tests.central.central_support import Central, definition


def count(model: Any) -> int:
    with database.connection_context():
        return int(model.select().count())


def test_create_then_read_with_triggers_and_actions(central: Central) -> None:
    created = central.post("/api/processes", definition(), status=201).json
    process = central.get(f"/api/processes/{created['process_id']}").json
    assert process["name"] == "Check-in"
    assert process["stations"] == ["st-north"]
    assert process["version"] == 1 and process["is_active"] is True
    assert [t["trigger_type"] for t in process["triggers"]] == ["manual"]
    assert [(a["action_order"], a["action_type"]) for a in process["actions"]] == \
        [(1, "log"), (2, "create_alert")]
    assert process["actions"][0]["action_config"] == {"message": "hello {{ event.who }}"}
    assert all(isinstance(a["id"], int) and a["uid"] for a in process["actions"])
    assert process["created_by"] is not None


def test_list_filters_and_pages(central: Central) -> None:
    ids = [central.post("/api/processes", definition(f"P{i}"), status=201).json["process_id"]
           for i in range(5)]
    central.delete(f"/api/processes/{ids[1]}")
    listing = central.get("/api/processes?limit=2&offset=1").json
    assert listing["total"] == 5
    assert [p["id"] for p in listing["processes"]] == ids[1:3]
    active = central.get("/api/processes?active_only=true&limit=50").json
    assert active["total"] == 4 and ids[1] not in [p["id"] for p in active["processes"]]
    creator = central.get(f"/api/processes/{ids[0]}").json["created_by"]
    assert central.get(f"/api/processes?created_by={creator}").json["total"] == 5
    assert central.get(f"/api/processes?created_by={creator + 1000}").json["total"] == 0
    bad = central.get("/api/processes?limit=0&active_only=maybe", status=400).json
    assert {e["path"] for e in bad["errors"]} == {"query.limit", "query.active_only"}


def test_invalid_definition_lists_each_problem_and_writes_nothing(central: Central) -> None:
    body = definition()
    body["actions"].append({"action_type": "log", "action_config": {}})
    body["triggers"][0]["trigger_type"] = "no_such_trigger"
    answer = central.post("/api/processes", body, status=400).json
    assert answer["error"] == "invalid definition"
    paths = {e["path"]: e["reason"] for e in answer["errors"]}
    assert paths["actions[2].action_config.message"] == "required"
    assert "triggers[0].trigger_type" in paths
    assert count(Process) == 0 and count(ProcessAction) == 0 and count(AuditLog) == 0
    assert central.app.post("/api/processes", "{not json", headers={
        **central.auth(), "Content-Type": "application/json"}, status=400).json["error"] \
        .startswith("invalid JSON")


def test_update_makes_a_new_version_and_refuses_stale_edits(central: Central) -> None:
    pid = central.post("/api/processes", definition(), status=201).json["process_id"]
    edited = definition("Check-in v2", version=1)
    edited["actions"] = edited["actions"][:1]
    assert central.put(f"/api/processes/{pid}", edited).json == {"message": "updated"}
    process = central.get(f"/api/processes/{pid}").json
    assert process["name"] == "Check-in v2" and process["version"] == 2
    assert len(process["actions"]) == 1
    stale = central.put(f"/api/processes/{pid}", definition("Lost edit", version=1),
                        status=409).json
    assert "version 2" in stale["error"]
    assert central.get(f"/api/processes/{pid}").json["name"] == "Check-in v2"
    with database.connection_context():
        assert ProcessVersion.select().where(ProcessVersion.process == pid).count() == 2


def test_deactivate_keeps_the_process_and_audits_before_and_after(central: Central) -> None:
    pid = central.post("/api/processes", definition(), status=201).json["process_id"]
    assert central.delete(f"/api/processes/{pid}").json == {"message": "deactivated"}
    assert central.get(f"/api/processes/{pid}").json["is_active"] is False
    uid = central.get(f"/api/processes/{pid}").json["uid"]
    trail = central.get(f"/api/audit?entity=process&entity_uid={uid}").json
    assert [e["action"] for e in trail["entries"]] == ["deactivate", "create"]
    deactivation = trail["entries"][0]
    assert deactivation["before"]["is_active"] is True
    assert deactivation["after"]["is_active"] is False
    assert deactivation["actor"].startswith("admin-")


def test_unknown_ids_are_404_and_fixed_paths_are_not_taken_for_ids(central: Central) -> None:
    for path in ("/api/processes/999", "/api/processes/999/analytics",
                 "/api/processes/executions/999", "/api/processes/templates/999"):
        assert central.get(path, status=404).json["error"]
    central.put("/api/processes/999", definition(), status=404)
    central.delete("/api/processes/999", status=404)
    central.post("/api/processes/999/execute", {}, status=404)
    assert "executions" in central.get("/api/processes/executions").json
    assert "templates" in central.get("/api/processes/templates").json
    assert "total_processes" in central.get("/api/processes/analytics/overview").json
    assert central.get("/api/processes/99999999999999999999999", status=404).json["error"]


def test_a_duplicate_uid_is_a_conflict(central: Central) -> None:
    body = definition(uid="0190d6c2-0000-7000-8000-000000000001")
    pid = central.post("/api/processes", body, status=201).json["process_id"]
    assert "already exists" in central.post("/api/processes", body, status=409).json["error"]
    exported = central.get(f"/api/processes/{pid}").json
    copy = definition("Copy")
    copy["triggers"][0]["uid"] = exported["triggers"][0]["uid"]
    assert "another process" in central.post("/api/processes", copy, status=409).json["error"]
    assert central.get("/api/processes").json["total"] == 1


class RadioAction(ActionType):
    type_name = "test_radio_text"
    description = "test: needs the radio"
    needs_radio = True
    CONFIG_SCHEMA: ClassVar[dict[str, Any]] = {"type": "object"}


@pytest.fixture
def radio_action() -> Iterator[None]:
    ACTION_TYPES[RadioAction.type_name] = RadioAction
    definitions.definition_schema.cache_clear()
    definitions._validator.cache_clear()
    yield
    ACTION_TYPES.pop(RadioAction.type_name)
    definitions.definition_schema.cache_clear()
    definitions._validator.cache_clear()


def test_a_process_for_central_cannot_need_a_radio(radio_action: None, central: Central) -> None:
    body = definition(stations=["central"])
    body["actions"].append({"action_type": "test_radio_text"})
    answer = central.post("/api/processes", body, status=400).json
    assert answer["errors"] == [{"path": "stations", "reason": answer["errors"][0]["reason"]}]
    assert "radio" in answer["errors"][0]["reason"]
    body["stations"] = ["st-north"]
    central.post("/api/processes", body, status=201)


def test_bodies_no_database_can_hold_are_refused(central: Central) -> None:
    body = definition()
    body["description"] = "nul \x00 inside"
    answer = central.post("/api/processes", body, status=400).json
    assert answer["errors"][0]["path"] == "description"
    body = definition(template_id=2**70)
    assert central.post("/api/processes", body, status=400).json["errors"][0]["path"] == \
        "template_id"
    assert central.post("/api/processes", definition(template_id=42), status=400) \
        .json["errors"] == [{"path": "template_id", "reason": "no template 42"}]
    assert count(Process) == 0
