"""Process definitions: the schema, validation errors with exact paths, whole-or-nothing saves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.core.models import Process, ProcessAction, ProcessTrigger, ProcessVersion
from agent.definitions import DefinitionError, validate_definition
from agent.processes import definition_of, save_process

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "docs" / "process-definition.schema.json"


def sos_definition() -> dict:
    return {
        "name": "SOS",
        "triggers": [{"trigger_type": "manual"}],
        "actions": [
            {"action_type": "create_alert",
             "action_config": {"title": "SOS from {{ event.from_name }}", "severity": "critical"}},
            {"action_type": "log", "action_config": {"message": "alert {{ steps.1.result.alert_id }}"}},
        ],
    }


def errors_of(data: object) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(data)
    return caught.value.errors


def test_valid_definition_is_normalised_with_spec_defaults() -> None:
    d = validate_definition(sos_definition())
    assert d["mode"] == "single" and d["max"] == 10 and d["stations"] == ["*"]
    assert [a["action_order"] for a in d["actions"]] == [1, 2]
    assert d["actions"][0]["timeout_seconds"] == 30 and d["actions"][0]["retry_count"] == 0
    assert d["triggers"][0]["priority"] == 0


def test_missing_action_field_names_the_exact_path() -> None:
    bad = sos_definition()
    bad["actions"].append({"action_type": "log", "action_config": {}})
    assert ("actions[2].action_config.message", "required") in errors_of(bad)


def test_every_problem_is_reported_at_once() -> None:
    bad = {"name": "", "triggers": [{"trigger_type": "teleport"}],
           "actions": [{"action_type": "create_alert", "action_config": {"title": "x", "colour": 1},
                        "retry_count": 99}],
           "mode": "sometimes"}
    paths = {p for p, _ in errors_of(bad)}
    assert {"name", "triggers[0].trigger_type", "actions[0].action_config",
            "actions[0].retry_count", "mode"} <= paths


def test_semantic_errors_bad_regex_template_severity_cron() -> None:
    bad = sos_definition()
    bad["triggers"] = [{"trigger_type": "time_schedule", "trigger_config": {"cron": "99 * * * *"}}]
    bad["actions"][0]["action_config"]["severity"] = "apocalyptic"
    bad["actions"][1]["action_config"]["message"] = "{{ event.text | explode }}"
    bad["actions"][1]["conditions"] = {"field": "event.text", "op": "matches", "value": "(["}
    errors = dict(errors_of(bad))
    assert "cron" in errors["triggers[0].trigger_config"]
    assert "must be one of" in errors["actions[0].action_config.severity"]
    assert "unknown filter" in errors["actions[1].action_config.message"]
    assert "regular expression" in errors["actions[1].conditions.value"]


def test_condition_errors_point_into_the_tree() -> None:
    bad = sos_definition()
    bad["actions"][0]["conditions"] = {"any": [{"field": "event.text", "op": "eq", "value": 1},
                                               {"field": "event.x", "op": "bigger", "value": 2}]}
    paths = {p for p, _ in errors_of(bad)}
    assert "actions[0].conditions.any[1].op" in paths


def test_not_an_object_is_refused() -> None:
    assert errors_of([1, 2]) == [("(root)", "a process definition is a JSON object")]


def test_save_is_whole_or_nothing(station_db: Path) -> None:
    process = save_process(sos_definition())
    before = (Process.select().count(), ProcessTrigger.select().count(),
              ProcessAction.select().count())
    bad = sos_definition()
    bad["actions"][1]["action_config"] = {}
    with pytest.raises(DefinitionError):
        save_process(bad, existing=process)
    after = (Process.select().count(), ProcessTrigger.select().count(),
             ProcessAction.select().count())
    assert before == after == (1, 1, 2)
    assert Process.get_by_id(process.id).version == 1


def test_every_version_is_kept_and_export_round_trips(station_db: Path) -> None:
    process = save_process(sos_definition())
    exported = definition_of(process)
    exported["name"] = "SOS v2"
    process = save_process(exported, existing=process)
    assert process.version == 2
    assert [v.definition["name"] for v in ProcessVersion.select().order_by(ProcessVersion.version)] \
        == ["SOS", "SOS v2"]
    again = definition_of(process)
    assert again["actions"][0]["uid"] == exported["actions"][0]["uid"]
    assert validate_definition(again)["name"] == "SOS v2"


def test_published_schema_document_matches_the_registries() -> None:
    """docs/process-definition.schema.json is generated: `python -m agent.definitions > ...`."""
    generated = subprocess.run(
        [sys.executable, "-m", "agent.definitions"], capture_output=True, text=True, check=True,
        cwd=REPO,
    ).stdout
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(generated), \
        "regenerate with: .venv/bin/python -m agent.definitions > docs/process-definition.schema.json"


def test_reference_document_matches_the_registries() -> None:
    """docs/process-definitions.md is generated: `python -m agent.reference > ...`."""
    generated = subprocess.run([sys.executable, "-m", "agent.reference"], capture_output=True,
                               text=True, check=True, cwd=REPO).stdout
    assert (REPO / "docs" / "process-definitions.md").read_text() == generated, \
        "regenerate with: .venv/bin/python -m agent.reference > docs/process-definitions.md"
