"""Templates: made from a process, listed, instantiated with customizations."""

from __future__ import annotations

from tests.central.central_support import Central, definition


def test_template_from_process_then_instantiate(central: Central) -> None:
    pid = central.post("/api/processes", definition(), status=201).json["process_id"]
    tid = central.post("/api/processes/templates", {
        "process_id": pid, "name": "Evening check-in", "description": "daily",
        "category": "communication"}, status=201).json["template_id"]
    listed = central.get("/api/processes/templates").json["templates"]
    assert [(t["id"], t["name"], t["category"], t["usage_count"]) for t in listed] == \
        [(tid, "Evening check-in", "communication", 0)]
    data = listed[0]["template_data"]
    assert "uid" not in data and all("uid" not in a for a in data["actions"])

    new = central.post(f"/api/processes/templates/{tid}/instantiate",
                       {"customizations": {"name": "South check-in",
                                           "stations": ["st-south"]}},
                       status=201).json["process_id"]
    process = central.get(f"/api/processes/{new}").json
    assert (process["name"], process["stations"], process["template_id"]) == \
        ("South check-in", ["st-south"], tid)
    assert [a["action_type"] for a in process["actions"]] == ["log", "create_alert"]
    assert process["uid"] != central.get(f"/api/processes/{pid}").json["uid"]
    assert central.get(f"/api/processes?template_id={tid}").json["total"] == 1
    assert central.get(f"/api/processes/templates/{tid}").json["usage_count"] == 1
    o = central.get("/api/processes/analytics/overview").json
    assert o["most_used_templates"][0] == {"id": tid, "name": "Evening check-in",
                                           "category": "communication", "usage_count": 1}


def test_template_errors(central: Central) -> None:
    pid = central.post("/api/processes", definition(), status=201).json["process_id"]
    central.post("/api/processes/templates", {"process_id": 999, "name": "x"}, status=404)
    bad = central.post("/api/processes/templates", {"process_id": pid, "name": "x",
                                                    "category": "fun"}, status=400).json
    assert bad["errors"][0]["path"] == "category"
    tid = central.post("/api/processes/templates", {"process_id": pid, "name": "x"},
                       status=201).json["template_id"]
    central.post("/api/processes/templates", {"process_id": pid, "name": "x"}, status=409)
    invalid = central.post(f"/api/processes/templates/{tid}/instantiate",
                           {"customizations": {"mode": "sometimes"}}, status=400).json
    assert invalid["errors"][0]["path"] == "mode"
    assert central.get(f"/api/processes/templates/{tid}").json["usage_count"] == 0
    assert central.get("/api/processes").json["total"] == 1
    central.post("/api/processes/templates/999/instantiate", {}, status=404)
    central.post("/api/processes/templates", {"process_id": pid, "name": "y"}, role="operator",
                 status=403)
