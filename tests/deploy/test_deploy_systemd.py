"""The systemd units in deploy/systemd: systemd itself loads them (systemd-analyze verify),
rates their exposure, and they carry what the station needs (restart, user, hardening, the
serial device) with paths that match the install scripts and the example configs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import REPO

UNITS = REPO / "deploy" / "systemd"
VENV_BIN = REPO / ".venv" / "bin"


def directives(unit: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> every value, in order (systemd allows repeated keys)."""
    out: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out[f"{section}.{key.strip()}"].append(value.strip())
    return out


@pytest.mark.parametrize("name", ["firefly-agent", "firefly-central"])
def test_unit_has_restart_user_and_hardening(name: str) -> None:
    unit = directives(UNITS / f"{name}.service")
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Service.Restart"] == "on-failure"
    assert one["Service.User"] == "firefly"
    assert one["Service.NoNewPrivileges"] == "yes"
    assert one["Service.ProtectSystem"] == "strict"  # all read-only but the data directory
    assert one["Service.ProtectHome"] == "yes"
    assert one["Service.PrivateTmp"] == "yes"
    state = one["Service.StateDirectory"]
    assert one["Service.WorkingDirectory"] == f"/var/lib/{state}"
    assert "ReadWritePaths" not in one  # nothing writable besides StateDirectory
    assert one["Install.WantedBy"] == "multi-user.target"
    command = unit["Service.ExecStart"][0].split()
    assert command[0] == f"/opt/firefly/venv/bin/{name}"
    assert command[1:3] == ["--config", f"/etc/firefly/{name.removeprefix('firefly-')}.toml"]


def test_agent_unit_reaches_the_serial_radio() -> None:
    unit = directives(UNITS / "firefly-agent.service")
    assert unit["Service.SupplementaryGroups"] == ["dialout"]
    assert unit["Service.DevicePolicy"] == ["closed"]
    assert sorted(unit["Service.DeviceAllow"]) == ["char-ttyACM rw", "char-ttyUSB rw"]
    assert "PrivateDevices" not in unit  # it would hide /dev/ttyUSB*
    assert unit["Service.ExecStart"][0].endswith(" run")


def test_units_match_the_example_configs() -> None:
    agent = tomllib.loads((REPO / "deploy" / "agent.example.toml").read_text())
    central = tomllib.loads((REPO / "deploy" / "central.example.toml").read_text())
    agent_state = directives(UNITS / "firefly-agent.service")["Service.StateDirectory"][0]
    central_state = directives(UNITS / "firefly-central.service")["Service.StateDirectory"][0]
    assert agent["station"]["db"].startswith(f"/var/lib/{agent_state}/")
    assert central["database"]["url"].startswith(f"sqlite:////var/lib/{central_state}/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("name", ["firefly-agent", "firefly-central"])
def test_systemd_loads_the_unit_and_rates_it_safe(tmp_path: Path, name: str) -> None:
    # ExecStart must name an executable that exists: point it at this checkout's venv.
    text = (UNITS / f"{name}.service").read_text().replace("/opt/firefly/venv/bin", str(VENV_BIN))
    unit = tmp_path / f"{name}.service"
    unit.write_text(text)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    complaints = [line for line in (verify.stdout + verify.stderr).splitlines()
                  if name in line]
    assert verify.returncode == 0 and complaints == [], verify.stdout + verify.stderr
    # Exposure 0 (locked down) .. 10 (exposed): at most 3.0 ("OK" is below 5).
    security = subprocess.run(["systemd-analyze", "security", "--offline=true",
                               "--threshold=30", str(unit)], capture_output=True, text=True,
                              timeout=60)
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr
