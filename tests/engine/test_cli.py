"""firefly-agent's command line: the contract scripts rely on (output and exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

GOOD = {"name": "Hello field", "triggers": [{"trigger_type": "manual"}],
        "actions": [{"action_type": "log", "action_config": {"message": "hi {{ event.who }}"}}]}


def agent(tmp: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "FIREFLY_DB": str(tmp / "station.db"), "FIREFLY_RADIO": "none",
                   "FIREFLY_MQTT": "none", **env}
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, env=environment,
                          input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    failing = {**GOOD, "name": "Always fails",
               "actions": [{"action_type": "create_alert", "action_config": {"title": "x",
                                                                             "severity": "{{ event.s }}"}}]}
    (tmp_path / "failing.json").write_text(json.dumps(failing))
    bad = {**GOOD, "actions": [{"action_type": "log", "action_config": {}}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "broken.json").write_text("{not json")
    return tmp_path


def test_import_list_export_run_show(files: Path) -> None:
    imported = agent(files, "process", "import", str(files / "good.json"))
    assert imported.returncode == 0, imported.stderr
    process_id = imported.stdout.strip()
    assert process_id.isdigit()
    listed = json.loads(agent(files, "process", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["Hello field"]
    exported = json.loads(agent(files, "process", "export", process_id).stdout)
    assert exported["actions"][0]["action_config"] == GOOD["actions"][0]["action_config"]
    ran = agent(files, "process", "run", "hello-field", "--data", '{"who": "Ann"}')
    assert ran.returncode == 0, ran.stderr
    execution_id = ran.stdout.strip()
    shown = json.loads(agent(files, "executions", "show", execution_id).stdout)
    assert shown["status"] == "completed"
    assert shown["steps"][0]["result"] == {"message": "hi Ann"}
    listed_runs = agent(files, "executions", "list", "--json")
    assert [r["id"] for r in json.loads(listed_runs.stdout)] == [int(execution_id)]


def test_exit_codes_a_script_can_rely_on(files: Path) -> None:
    agent(files, "process", "import", str(files / "failing.json"))
    failed = agent(files, "process", "run", "1", "--data", '{"s": "apocalyptic"}')
    assert failed.returncode == 1 and failed.stdout.strip().isdigit()
    assert "failed" in failed.stderr
    invalid = agent(files, "process", "validate", str(files / "bad.json"))
    assert invalid.returncode == 3
    assert "actions[0].action_config.message: required" in invalid.stderr
    assert agent(files, "process", "import", str(files / "broken.json")).returncode == 3
    assert agent(files, "process", "import", str(files / "missing.json")).returncode == 2
    assert agent(files, "process", "export", "999").returncode == 4
    assert agent(files, "executions", "show", "999").returncode == 4
    assert agent(files, "process", "run", "1", "--data", "[1]").returncode == 2
    assert agent(files, "process", "list", FIREFLY_STATION_ID="bad id!").returncode == 2
    assert agent(files, "process", "validate", str(files / "good.json")).returncode == 0


def test_config_file_with_environment_override(files: Path) -> None:
    config = files / "agent.toml"
    config.write_text('[station]\nid = "from-file"\ndb = "%s"\n[engine]\nmax_steps = 7\n'
                      % (files / "other.db"))
    agent(files, "--config", str(config), "process", "import", str(files / "good.json"),
          FIREFLY_DB="")
    assert (files / "other.db").exists()
    typo = files / "typo.toml"
    typo.write_text("[engine]\nmax_stepz = 7\n")
    result = agent(files, "--config", str(typo), "process", "list")
    assert result.returncode == 2 and "engine.max_stepz: unknown setting" in result.stderr


def test_an_edit_at_a_station_whose_clock_runs_behind_still_wins(files: Path) -> None:
    """The station stores central's version, stamped a day ahead of the station's wall clock
    (a Pi without a real-time clock or NTP); an operator's edit made after it must carry a
    later clock value, or the merge would prefer the older version."""
    import sqlite3
    import time

    from agent.core.ids import format_hlc, parse_hlc

    process_id = agent(files, "process", "import", str(files / "good.json")).stdout.strip()
    ahead = format_hlc(int(time.time() * 1000) + 86_400_000, 3, "central")
    with sqlite3.connect(files / "station.db") as conn:
        conn.execute("UPDATE processes SET hlc = ?, origin = 'central' WHERE id = ?",
                     (ahead, int(process_id)))
    edited = json.loads(agent(files, "process", "export", process_id).stdout)
    edited["description"] = "edited in the field"
    (files / "edited.json").write_text(json.dumps(edited))
    imported = agent(files, "process", "import", str(files / "edited.json"))
    assert imported.returncode == 0, imported.stderr
    with sqlite3.connect(files / "station.db") as conn:
        hlc, origin, description = conn.execute(
            "SELECT hlc, origin, description FROM processes WHERE id = ?",
            (int(process_id),)).fetchone()
    assert description == "edited in the field" and origin != "central"
    assert parse_hlc(hlc)[:2] > parse_hlc(ahead)[:2]
