"""scripts/demo for real: it starts, executions from both stations reach central, Ctrl-C stops
every program it started (exit 0, no traceback), and a second start keeps the data.

Once with Mosquitto and once with the embedded demo broker (amqtt, MQTT 3.1.1, no shared
subscriptions). Free ports and a temporary data directory (FIREFLY_DEMO_* variables), so the
test does not collide with a demo on 8080/1884.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO, free_port, wait_until

STATIONS = ("north", "south")
STARTUP_SECONDS = 90.0  # scripts/install, migrations, central, the mesh, two stations, a sync
SPEED = "3"  # the simulated mesh: the scenario's events come three times sooner


@dataclass
class Demo:
    """One run of scripts/demo, in its own process group (as from a terminal)."""

    proc: subprocess.Popen[bytes]
    output: Path
    data: Path
    http_port: int

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def executions(self, opener: urllib.request.OpenerDirector) -> dict[str, set[str]]:
        """Execution uids per station, as central's REST API lists them."""
        with opener.open(f"http://127.0.0.1:{self.http_port}/api/processes/executions"
                         "?limit=500", timeout=10) as response:
            listed = json.load(response)["executions"]
        found: dict[str, set[str]] = {station: set() for station in STATIONS}
        for execution in listed:
            found.setdefault(execution["station_id"], set()).add(execution["uid"])
        return found

    def login(self) -> urllib.request.OpenerDirector | None:
        """A session as the demo admin, or None while central is not up yet."""
        password_file = self.data / "admin-password"
        if not password_file.exists():
            return None
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        body = json.dumps({"username": "demo", "password": password_file.read_text().strip()})
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/api/auth/login",
                                         data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            opener.open(request, timeout=10).close()
        except OSError:  # not listening yet (URLError is an OSError)
            return None
        return opener


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, ppid in parents.items() if ppid == parent}
        todo.extend(children - found)
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo_env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    env = {**os.environ,
           "FIREFLY_DEMO_BROKER": request.param,
           "FIREFLY_DEMO_DIR": str(tmp_path / "demo"),
           "FIREFLY_DEMO_HTTP_PORT": str(free_port()),
           "FIREFLY_DEMO_MQTT_PORT": str(free_port()),
           "FIREFLY_DEMO_SIM_PORT": str(free_port()),
           "FIREFLY_DEMO_RADIO_PORTS": f"{free_port()},{free_port()}"}
    yield env


def start_demo(env: dict[str, str], output: Path, *args: str) -> Demo:
    with open(output, "wb") as out:
        proc = subprocess.Popen([str(REPO / "scripts" / "demo"), "--speed", SPEED, *args],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Demo(proc, output, Path(env["FIREFLY_DEMO_DIR"]), int(env["FIREFLY_DEMO_HTTP_PORT"]))


def run_until_new_executions(demo: Demo, before: dict[str, set[str]]) -> dict[str, set[str]]:
    """Wait until central lists an execution from each station that ``before`` lacks, then
    stop the demo with Ctrl-C (SIGINT to its process group) and check that it stopped cleanly.
    """
    session: list[urllib.request.OpenerDirector] = []

    def new_from_both_stations() -> dict[str, set[str]] | None:
        assert demo.proc.poll() is None, f"the demo exited early:\n{demo.text()}"
        if not session:
            opener = demo.login()
            if opener is None:
                return None
            session.append(opener)
        now = demo.executions(session[0])
        return now if all(now[s] - before.get(s, set()) for s in STATIONS) else None

    try:
        after: dict[str, set[str]] = wait_until(
            new_from_both_stations, timeout=STARTUP_SECONDS, interval=0.5,
            message="executions from both stations at central")
        children = descendants(demo.proc.pid)
        assert len(children) >= 5, children  # broker, central, firefly-sim, two agents
    finally:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGINT)
        code = demo.proc.wait(60)
    output = demo.text()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "demo: stopped" in output, output
    assert [pid for pid in children if alive(pid)] == [], output
    logs = {log.name: log.read_text(errors="replace") for log in (demo.data / "logs").iterdir()}
    assert [name for name, text in logs.items() if "Traceback" in text] == [], logs
    return after


@pytest.mark.timeout(180)
@pytest.mark.parametrize("demo_env", [pytest.param("mosquitto", marks=pytest.mark.broker),
                                      "embedded"], indirect=True)
def test_demo_runs_stops_on_ctrl_c_and_keeps_its_data(demo_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    data = Path(demo_env["FIREFLY_DEMO_DIR"])
    (data / "logs").mkdir(parents=True)
    (data / "admin-password").write_text("left over from an older demo")

    first = run_until_new_executions(start_demo(demo_env, tmp_path / "first.out", "--reset"),
                                     {})
    first_output = (tmp_path / "first.out").read_text()
    assert "data reset" in first_output
    assert (data / "admin-password").read_text() != "left over from an older demo"
    if demo_env["FIREFLY_DEMO_BROKER"] == "embedded":
        assert "embedded demo broker (amqtt), loopback only, not for production" in first_output

    second = run_until_new_executions(start_demo(demo_env, tmp_path / "second.out"), first)
    assert "data reset" not in (tmp_path / "second.out").read_text()
    for station in STATIONS:
        assert first[station] <= second[station], f"{station}: executions of the first run lost"
