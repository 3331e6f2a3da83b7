"""The page's own routes: static files, the builder's schema and validation, test runs,
template import. In-process (WebTest) against a temporary SQLite database."""

from __future__ import annotations

import re
from typing import Any

from agent.core.models import Alert, Process, ProcessExecution, ProcessTemplate, database
from agent.definitions import definition_schema
from central.api.web import STATIC_ROOT
from tests.web.web_support import definition


def test_page_and_every_asset_come_from_central_with_type_and_revalidation(web_central: Any) \
        -> None:
    page = web_central.app.get("/")
    assert page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-cache"
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    files = [p for p in STATIC_ROOT.rglob("*") if p.is_file()]
    assert len([p for p in files if p.suffix == ".js"]) >= 10
    for path in files:
        url = "/static/" + path.relative_to(STATIC_ROOT).as_posix()
        if path.suffix == ".html":
            continue
        response = web_central.app.get(url)
        assert response.content_type == types[path.suffix], url
        assert response.body == path.read_bytes()
        assert response.headers["Cache-Control"] == "no-cache"
        again = web_central.app.get(url, headers={"If-None-Match": response.headers["ETag"]},
                                    status=304)
        assert again.body == b""


def test_nothing_is_loaded_from_another_host(web_central: Any) -> None:
    """Offline from the internet: no URL in the page's files points elsewhere."""
    for path in STATIC_ROOT.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text))
            urls.discard("http://www.w3.org/2000/svg")  # the SVG namespace, not a request
            assert not urls, f"{path}: {urls}"


def test_files_outside_the_static_folder_are_not_served(web_central: Any) -> None:
    for url in ("/static/../api/web.py", "/static/%2e%2e/api/web.py", "/static/js/../../app.py",
                "/static/.hidden", "/static/js", "/static/nothing.js", "/static/css/app.css.map"):
        web_central.app.get(url, status=404)


def test_the_builder_gets_the_schema_the_api_validates_with(web_central: Any) -> None:
    assert web_central.get("/api/schema/process-definition", role="viewer").json \
        == definition_schema()
    types = web_central.get("/api/schema/process-types", role="viewer").json
    actions = {a["type"]: a for a in types["actions"]}
    assert actions["send_message"]["needs_radio"] is True
    assert actions["log"]["needs_radio"] is False
    assert actions["log"]["example"]
    assert {t["type"]: t["listens_to"] for t in types["triggers"]}["manual"] == "manual"
    web_central.app.get("/api/schema/process-definition", status=401)


def test_validation_names_each_problem_at_its_path(web_central: Any) -> None:
    bad = definition("Broken")
    del bad["actions"][1]["action_config"]["title"]
    bad["actions"][0]["action_config"]["level"] = "loud"
    result = web_central.post("/api/schema/process-definition/validate",
                              {"definition": bad}).json
    assert result["valid"] is False
    assert {(e["path"], e["reason"]) for e in result["errors"]} >= {
        ("actions[1].action_config.title", "required"),
        ("actions[0].action_config.level", "must be one of info, warning, error")}
    radio_at_central = definition("Radio", actions=[
        {"action_type": "send_message", "action_config": {"text": "hi", "to": "^all"}}])
    result = web_central.post("/api/schema/process-definition/validate",
                              {"definition": radio_at_central}).json
    assert [e["path"] for e in result["errors"]] == ["stations"]
    assert web_central.post("/api/schema/process-definition/validate",
                            {"definition": definition("Fine")}).json \
        == {"valid": True, "errors": []}
    web_central.post("/api/schema/process-definition/validate", {"definition": bad},
                     role="viewer", status=403)


def counts() -> tuple[int, int, int]:
    with database.connection_context():
        return Process.select().count(), ProcessExecution.select().count(), Alert.select().count()


def test_try_run_shows_each_step_and_leaves_central_untouched(web_central: Any) -> None:
    before = counts()
    body = {
        "definition": {
            "name": "SOS reply", "stations": ["*"],
            "triggers": [{"trigger_type": "message_received",
                          "trigger_config": {"contains": ["sos", "help"]}}],
            "actions": [
                {"action_type": "log", "action_config": {"message": "SOS from {{ event.from_name }}"}},
                {"action_type": "send_message",
                 "action_config": {"to": "{{ event.from_id }}", "text": "Help is coming"}},
                {"action_type": "create_alert",
                 "action_config": {"title": "SOS {{ event.from_name }}", "severity": "critical"},
                 "conditions": {"field": "event.channel", "op": "eq", "value": 0}},
                {"action_type": "delay", "action_config": {"minutes": 30}},
            ]},
        "event": {"type": "message_received",
                  "data": {"text": "SOS at the ridge", "from_id": "!a1b2c3d4",
                           "from_name": "Anna", "channel": 0}},
    }
    result = web_central.post("/api/processes/try-run", body).json
    assert [t["matched"] for t in result["triggers"]] == [True]
    assert result["execution"]["status"] == "completed"
    steps = {s["action_type"]: s for s in result["steps"]}
    assert [s["status"] for s in result["steps"]] == ["completed"] * 4
    assert steps["log"]["result"] == {"message": "SOS from Anna"}
    assert steps["send_message"]["dry_run"] is True
    assert "!a1b2c3d4" in steps["send_message"]["would"]
    assert "Help is coming" in steps["send_message"]["would"]
    assert steps["delay"]["dry_run"] is True
    assert steps["create_alert"]["dry_run"] is False
    assert {"kind": "alert", "severity": "critical", "title": "SOS Anna", "message": ""} \
        in result["effects"]
    assert counts() == before  # nothing of the test run reached central's database

    # an event no trigger accepts: the actions still run, as a manual run, and it says why
    body["event"]["data"]["text"] = "all good"
    body["event"]["data"]["channel"] = 2
    result = web_central.post("/api/processes/try-run", body).json
    assert result["triggers"][0]["matched"] is False
    assert result["triggers"][0]["reason"] == "the event does not match its settings"
    assert result["notes"] and "manual run" in result["notes"][0]
    assert [s["status"] for s in result["steps"]] == ["completed", "completed", "skipped",
                                                      "completed"]


def test_try_run_refuses_an_invalid_definition_with_paths(web_central: Any) -> None:
    bad = definition("Bad")
    bad["actions"][1]["action_config"]["severity"] = "apocalyptic"
    errors = web_central.post("/api/processes/try-run", {"definition": bad}, status=400).json
    assert {"path": "actions[1].action_config.severity",
            "reason": "must be one of info, warning, critical"} in errors["errors"]
    web_central.post("/api/processes/try-run", {"definition": definition("Ok")}, role="viewer",
                     status=403)


def test_an_exported_template_imports_as_the_same_template(web_central: Any) -> None:
    process_id = web_central.post("/api/processes", definition("Check-in")).json["process_id"]
    template_id = web_central.post("/api/processes/templates", {
        "process_id": process_id, "name": "Evening check-in", "category": "communication"},
    ).json["template_id"]
    template = web_central.get(f"/api/processes/templates/{template_id}").json
    # what the page sends for an exported file (templates.js importBody)
    exported = {"name": "Imported check-in", "description": template["description"],
                "category": template["category"], "template_data": template["template_data"]}
    new_id = web_central.post("/api/processes/templates/import", exported, status=201) \
        .json["template_id"]
    imported = web_central.get(f"/api/processes/templates/{new_id}").json
    assert imported["template_data"] == template["template_data"]
    assert imported["category"] == "communication"
    web_central.post("/api/processes/templates/import", exported, status=409)
    broken = {**exported, "name": "Broken", "template_data": {
        **template["template_data"], "actions": [{"action_type": "log", "action_config": {}}]}}
    errors = web_central.post("/api/processes/templates/import", broken, status=400).json
    assert errors["errors"] == [{"path": "template_data.actions[0].action_config.message",
                                 "reason": "required"}]
    web_central.post("/api/processes/templates/import", {**exported, "name": "V"},
                     role="viewer", status=403)
    with database.connection_context():
        assert ProcessTemplate.select().count() == 2
