"""The example configs in deploy/ load with the programs' own loaders, and list every setting
(a new setting without a line in the example fails here, naming the line to add)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from agent.settings import describe
from central.config import CentralSettings, load_settings
from tests.ops.ops_support import FIREFLY_AGENT
from tests.support import REPO

DEPLOY = REPO / "deploy"


def listed_settings(path: Path) -> set[str]:
    """``section.key`` for every line ``key = ...`` or ``# key = ...`` under ``[section]``."""
    found: set[str] = set()
    section = ""
    for line in path.read_text().splitlines():
        if m := re.match(r"^\[([a-z_.]+)\]\s*$", line):
            section = m.group(1)
        elif m := re.match(r"^#?\s?([a-z_]+) = ", line):
            found.add(f"{section}.{m.group(1)}")
    return found


@pytest.mark.parametrize(("example", "settings"), [
    ("agent.example.toml", AgentConfig),
    ("central.example.toml", CentralSettings),
])
def test_example_lists_every_setting(example: str, settings: Any) -> None:
    missing = [f"{name} (default {default!r}: {help_text})"
               for name, default, help_text in describe(settings)
               if name not in listed_settings(DEPLOY / example)]
    assert missing == [], f"add these to deploy/{example}: {missing}"


def test_every_file_in_deploy_is_exercised_by_a_test() -> None:
    """A file added to deploy/ needs a test here that loads or runs it."""
    tests = "".join(p.read_text() for p in (REPO / "tests" / "deploy").glob("test_deploy_*.py"))
    not_config = {"README.md", ".gitignore"}
    untested = [str(path.relative_to(DEPLOY)) for path in sorted(DEPLOY.rglob("*"))
                if path.is_file() and path.name not in not_config
                and "__pycache__" not in path.parts and path.name not in tests]
    assert untested == []


def test_agent_example_loads() -> None:
    config = load_config(DEPLOY / "agent.example.toml", env={})
    assert config.station.db == "/var/lib/firefly/agent.db"
    assert config.radio.url.startswith("serial:///dev/")
    assert config.mqtt.url == "none"  # add-station fills it in
    overridden = load_config(DEPLOY / "agent.example.toml",
                             env={"FIREFLY_MQTT": "mqtts://st01:x@central:8883"})
    assert overridden.mqtt.url == "mqtts://st01:x@central:8883"


def test_central_example_loads() -> None:
    settings = load_settings(DEPLOY / "central.example.toml", env={})
    assert settings.database.url == "sqlite:////var/lib/firefly-central/central.db"
    assert settings.server.listen.startswith("127.0.0.1:")


def test_agent_example_is_accepted_by_the_command(tmp_path: Path) -> None:
    """The real command reads the example (paths that only exist on a station overridden)."""
    env = {"PATH": "/usr/bin:/bin", "FIREFLY_DB": str(tmp_path / "a.db"), "FIREFLY_RADIO": "none"}
    done = subprocess.run([FIREFLY_AGENT, "--config", str(DEPLOY / "agent.example.toml"),
                           "process", "list"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.db").exists()
