"""Helpers for the operations and deploy tests: the real commands, a real Mosquitto.

Import as tests.ops.ops_support (tests/deploy uses it too).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO, free_port, wait_until

BIN = Path(sys.executable).parent
FIREFLY_AGENT = str(BIN / "firefly-agent")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
STATION_PASSWORD = "s3cret-Pass-4711"  # distinctive: the tests grep output for it


def agent_env(tmp: Path, **env: str) -> dict[str, str]:
    """The environment of a firefly-agent with its database in ``tmp``, radio and sync off."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    return {**base, "FIREFLY_DB": str(tmp / "station.db"), "FIREFLY_RADIO": "none",
            "FIREFLY_MQTT": "none", **env}


def run_agent(env: Mapping[str, str], *args: str, timeout: float = 90,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FIREFLY_AGENT, *args], env=dict(env), cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Stop a process we started: ``sig``, then kill after a grace period."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_agent(env: Mapping[str, str], log: Path,
                  ready: str = "running (db") -> Iterator[RunningAgent]:
    """``firefly-agent run`` until the block ends; waits for its start-up line."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([FIREFLY_AGENT, "run"], env=dict(env), cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    agent = RunningAgent(proc, log)
    try:
        wait_until(lambda: ready in agent.output() or proc.poll() is not None, timeout=60,
                   message="firefly-agent run to start")
        assert proc.poll() is None, f"firefly-agent run exited:\n{agent.output()}"
        yield agent
    finally:
        stop(proc)


def add_mqtt_user(passwd: Path, user: str, password: str) -> None:
    if not passwd.exists():
        passwd.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", str(passwd), user], input=f"{password}\n{password}\n",
                   capture_output=True, text=True, check=True, timeout=30)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def mosquitto(config: Path, ports: list[int], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run Mosquitto with ``config`` until every port in ``ports`` accepts connections."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: all(port_open(p) for p in ports) or proc.poll() is not None,
                   timeout=20, message="mosquitto to listen")
        if proc.poll() is not None:
            pytest.fail(f"mosquitto exited {proc.returncode}:\n{log.read_text()}")
        yield proc
    finally:
        stop(proc)


def run_as_user_line() -> str:
    """Started as root, Mosquitto drops to user mosquitto, which cannot read pytest's tmp."""
    return f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""


@dataclass
class PasswordBroker:
    port: int
    passwd: Path
    proc: subprocess.Popen[bytes]

    def url(self, user: str = "st01", password: str = STATION_PASSWORD) -> str:
        return f"mqtt://{user}:{password}@127.0.0.1:{self.port}"


@contextmanager
def password_broker(tmp: Path) -> Iterator[PasswordBroker]:
    """Mosquitto on a free loopback port with a password file: user st01 / STATION_PASSWORD."""
    passwd = tmp / "passwd"
    add_mqtt_user(passwd, "st01", STATION_PASSWORD)
    port = free_port()
    conf = tmp / "broker.conf"
    conf.write_text(f"{run_as_user_line()}per_listener_settings false\n"
                    f"allow_anonymous false\npassword_file {passwd}\npersistence false\n"
                    f"log_dest file {tmp / 'broker.log'}\nlistener {port} 127.0.0.1\n")
    with mosquitto(conf, [port], tmp / "broker.out") as proc:
        yield PasswordBroker(port, passwd, proc)
