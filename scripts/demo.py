"""The Firefly demo: an MQTT broker, central, firefly-sim with two station radios, two agents.

Everything runs on loopback, with its data in var/demo/ (kept between runs; --reset wipes it).
Each program is a separate process, started the way an operator would start it, and stopped
with SIGTERM on Ctrl-C (or when the demo itself gets SIGTERM).

The broker is Mosquitto; when Mosquitto is not installed (or FIREFLY_DEMO_BROKER=embedded) it
is the embedded demo broker (scripts/demo_broker.py, amqtt: MQTT 3.1.1, loopback only, not for
production), and then central and the stations speak MQTT 3.1.1 without shared subscriptions.

Environment overrides (for tests, or to run next to something else):
FIREFLY_DEMO_DIR (data directory), FIREFLY_DEMO_BROKER (auto, mosquitto or embedded),
FIREFLY_DEMO_HTTP_PORT (central, 8080), FIREFLY_DEMO_MQTT_PORT (broker, 1884),
FIREFLY_DEMO_SIM_PORT (firefly-sim control API, 8081),
FIREFLY_DEMO_RADIO_PORTS (the north and south station radios, "4403,4404").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "docs" / "examples"
BIN = Path(sys.executable).parent
STATION_NAMES = ("north", "south")
# Files that mark a directory as the demo's own (--reset wipes only such a directory).
DEMO_FILES = ("admin-password", "central.db", "logs")
EMBEDDED_LABEL = "embedded demo broker (amqtt), loopback only, not for production"


class DemoError(Exception):
    """A problem the demo reports in one line (no traceback) before exiting with 2."""


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


@dataclass(frozen=True)
class DemoSettings:
    data: Path
    broker: str  # "auto", "mosquitto" or "embedded"
    http_port: int
    mqtt_port: int
    sim_port: int
    radio_ports: dict[str, int]

    @property
    def ports(self) -> list[int]:
        return [self.mqtt_port, self.http_port, self.sim_port, *self.radio_ports.values()]


def _port(name: str, value: str) -> int:
    value = value.strip()
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise DemoError(f"{name}: expected a port number (1-65535), got {value!r}")
    return int(value)


def read_settings(env: Mapping[str, str]) -> DemoSettings:
    data = Path(env.get("FIREFLY_DEMO_DIR", "") or REPO / "var" / "demo").resolve()
    broker = env.get("FIREFLY_DEMO_BROKER", "").strip().lower() or "auto"
    if broker not in ("auto", *BROKERS):
        raise DemoError(f"FIREFLY_DEMO_BROKER: expected auto, {' or '.join(BROKERS)}, "
                        f"got {broker!r}")
    radios = (env.get("FIREFLY_DEMO_RADIO_PORTS", "") or "4403,4404").split(",")
    if len(radios) != len(STATION_NAMES):
        raise DemoError(f"FIREFLY_DEMO_RADIO_PORTS: expected {len(STATION_NAMES)} ports "
                        f"separated by a comma (north,south), got {','.join(radios)!r}")
    return DemoSettings(
        data=data, broker=broker,
        http_port=_port("FIREFLY_DEMO_HTTP_PORT", env.get("FIREFLY_DEMO_HTTP_PORT", "").strip()
                        or "8080"),
        mqtt_port=_port("FIREFLY_DEMO_MQTT_PORT", env.get("FIREFLY_DEMO_MQTT_PORT", "").strip()
                        or "1884"),
        sim_port=_port("FIREFLY_DEMO_SIM_PORT", env.get("FIREFLY_DEMO_SIM_PORT", "").strip()
                       or "8081"),
        radio_ports={station: _port("FIREFLY_DEMO_RADIO_PORTS", port)
                     for station, port in zip(STATION_NAMES, radios, strict=True)})


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Fleet:
    def __init__(self, data: Path) -> None:
        self.logs = data / "logs"
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) \
            -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **(env or {})},
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def wait_port(self, port: int, name: str, proc: subprocess.Popen[bytes],
                  timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(port):
            if proc.poll() is not None:
                raise DemoError(f"{name} exited with {proc.returncode}; see {self.logs}/{name}.log")
            if time.monotonic() > deadline:
                raise DemoError(f"{name} did not open port {port} within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> bool:
        """SIGTERM to each program in turn, newest first (the broker last, so the others
        disconnect cleanly); False if one had to be killed."""
        clean = True
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in 10 s; killing it")
                proc.kill()
                proc.wait()
                clean = False
        return clean


# -- brokers ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Broker:
    label: str  # shown in the banner
    url_query: str  # appended to every MQTT URL
    shared_subscriptions: bool  # central's mqtt.shared_subscriptions
    argv: Callable[[DemoSettings], list[str]]
    available: Callable[[], bool]
    missing: str  # what to do when it is not available


def mosquitto_path() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def mosquitto_argv(demo: DemoSettings) -> list[str]:
    conf = demo.data / "mosquitto.conf"
    (demo.data / "mosquitto").mkdir(parents=True, exist_ok=True)
    # Started by root, Mosquitto would switch to user mosquitto, which cannot write here.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        "# Demo only: anonymous clients on loopback. Production: deploy/mosquitto/.\n"
        f"listener {demo.mqtt_port} 127.0.0.1\nallow_anonymous true\n{user}"
        f"persistence true\npersistence_location {demo.data}/mosquitto/\nautosave_interval 5\n")
    return [mosquitto_path(), "-c", str(conf)]


def embedded_argv(demo: DemoSettings) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "demo_broker.py"),
            "--port", str(demo.mqtt_port), "--log-level", "info"]


BROKERS: dict[str, Broker] = {
    "mosquitto": Broker(
        label="Mosquitto (demo config: anonymous, loopback only)", url_query="",
        shared_subscriptions=True, argv=mosquitto_argv,
        available=lambda: Path(mosquitto_path()).exists(),
        missing="mosquitto is not installed; run scripts/install (it installs it with apt), "
                "or use FIREFLY_DEMO_BROKER=embedded"),
    "embedded": Broker(
        label=f"{EMBEDDED_LABEL}; MQTT 3.1.1", url_query="?protocol=3.1.1",
        shared_subscriptions=False, argv=embedded_argv,
        available=lambda: importlib.util.find_spec("amqtt") is not None,
        missing="the embedded demo broker needs amqtt: .venv/bin/pip install -e '.[demo-broker]'"),
}


def choose_broker(wanted: str) -> str:
    name = wanted
    if wanted == "auto":
        name = "mosquitto" if BROKERS["mosquitto"].available() else "embedded"
        if name == "embedded":
            say(f"Mosquitto is not installed: using the {EMBEDDED_LABEL}")
    if not BROKERS[name].available():
        raise DemoError(BROKERS[name].missing)
    return name


# -- central ------------------------------------------------------------------------------------

class Central:
    def __init__(self, demo: DemoSettings, broker: Broker) -> None:
        self.demo = demo
        self.base = f"http://127.0.0.1:{demo.http_port}"
        config = demo.data / "central.toml"
        config.write_text("# Written by scripts/demo on every start.\n[mqtt]\n"
                          f"shared_subscriptions = {str(broker.shared_subscriptions).lower()}\n")
        self.argv = [str(BIN / "firefly-central"), "--config", str(config)]
        self.env = {"FIREFLY_DATABASE_URL": f"sqlite:///{demo.data}/central.db",
                    "FIREFLY_LISTEN": f"127.0.0.1:{demo.http_port}",
                    "FIREFLY_MQTT": f"mqtt://127.0.0.1:{demo.mqtt_port}{broker.url_query}"}

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.argv, *args], env={**os.environ, **self.env},
                              input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            raise DemoError(f"firefly-central {' '.join(args)} failed ({done.returncode}): "
                            f"{done.stderr.strip()}")
        return done.stdout

    def setup(self) -> tuple[str, str]:
        """The demo admin (password kept in the data directory) and a token for the examples."""
        secret_file = self.demo.data / "admin-password"
        self.run("migrate")
        if not secret_file.exists():
            password = secrets.token_urlsafe(9)
            self.run("admin", "create", "demo", "--role", "admin", stdin=password + "\n")
            secret_file.write_text(password)
        token = self.run("token", "create", "demo", "--label", "demo installer")
        return secret_file.read_text().strip(), token.strip().splitlines()[-1]

    def api(self, method: str, path: str, token: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def install_examples(self, token: str) -> None:
        """Module records first (zones, groups, users), then the example processes; idempotent."""
        setup = json.loads((EXAMPLES / "demo-setup.json").read_text())
        for collection, records in setup.items():
            existing = {r.get("name") for r in
                        self.api("GET", f"/api/{collection}?limit=500", token).get(collection, [])}
            for record in records:
                if record["name"] not in existing:
                    self.api("POST", f"/api/{collection}", token, record)
        names = {p["name"] for p in
                 self.api("GET", "/api/processes?limit=500", token)["processes"]}
        for path in sorted(EXAMPLES.glob("*.process.json")):
            definition = json.loads(path.read_text())
            if definition["name"] not in names:
                self.api("POST", "/api/processes", token, definition)
                say(f"installed process '{definition['name']}'")


# -- the demo -----------------------------------------------------------------------------------

def reset(data: Path) -> None:
    if not data.exists():
        return
    if any(data.iterdir()) and not any((data / name).exists() for name in DEMO_FILES):
        raise DemoError(f"--reset: {data} does not look like demo data (none of "
                        f"{', '.join(DEMO_FILES)} in it); not wiping it")
    shutil.rmtree(data)
    say(f"data reset ({data})")


def station_config(demo: DemoSettings, broker: Broker, station: str) -> Path:
    config = demo.data / f"{station}.toml"
    config.write_text(f'[station]\nid = "{station}"\ndb = "{demo.data / station}.db"\n'
                      f'[radio]\nurl = "tcp://127.0.0.1:{demo.radio_ports[station]}"\n'
                      'command_nodes = ["!e5f6a7b8"]  # Dan, the team lead\n'
                      f'[mqtt]\nurl = "mqtt://{station}@127.0.0.1:{demo.mqtt_port}'
                      f'{broker.url_query}"\n')
    return config


def banner(demo: DemoSettings, broker: Broker, password: str) -> str:
    radios = ", ".join(f"{station} (radio tcp://127.0.0.1:{port})"
                       for station, port in demo.radio_ports.items())
    return f"""
  Firefly demo is running.

    Admin page:   http://127.0.0.1:{demo.http_port}     user: demo   password: {password}
    Mesh control: http://127.0.0.1:{demo.sim_port}/nodes   (firefly-sim control API)
    MQTT broker:  127.0.0.1:{demo.mqtt_port}  ({broker.label})
    Stations:     {radios}
    Logs:         {demo.data}/logs/

  Within a minute: Anna's SOS raises a critical alert, Bea crosses the avalanche zone,
  Carl goes silent and comes back, the relay's battery runs low. Watch the Monitor page.
  Ctrl-C stops everything.
"""


def start_all(demo: DemoSettings, broker_name: str, fleet: Fleet, speed: str) -> int:
    """Start every program, then watch them until one exits (1) or Ctrl-C."""
    broker = BROKERS[broker_name]
    proc = fleet.start(broker_name, broker.argv(demo))
    fleet.wait_port(demo.mqtt_port, broker_name, proc)
    central = Central(demo, broker)
    password, token = central.setup()
    proc = fleet.start("central", [*central.argv, "serve"], central.env)
    fleet.wait_port(demo.http_port, "central", proc)
    central.install_examples(token)
    sim_args = [str(BIN / "firefly-sim"), "--control", f"127.0.0.1:{demo.sim_port}",
                "--scenario", "demo", "--speed", speed]
    for port in demo.radio_ports.values():
        sim_args += ["--radio-port", str(port)]
    proc = fleet.start("firefly-sim", sim_args)
    fleet.wait_port(demo.sim_port, "firefly-sim", proc)
    for station in STATION_NAMES:
        fleet.start(f"agent-{station}", [str(BIN / "firefly-agent"), "--config",
                                         str(station_config(demo, broker, station)), "run"])
    print(banner(demo, broker, password), flush=True)
    while True:
        for name, proc in fleet.procs:
            if proc.poll() is not None:
                say(f"{name} exited with {proc.returncode}; see {fleet.logs}/{name}.log")
                return 1
        time.sleep(0.5)


def run(demo: DemoSettings, speed: str) -> int:
    for port in demo.ports:
        if port_open(port):
            raise DemoError(f"port {port} is in use (another demo running?)")
    broker_name = choose_broker(demo.broker)
    demo.data.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(demo.data)
    try:
        code = start_all(demo, broker_name, fleet, speed)
    except KeyboardInterrupt:
        code = 0
    except DemoError as exc:
        say(str(exc))
        code = 2
    except urllib.error.HTTPError as exc:
        say(f"central did not accept the examples: {exc}: {exc.read().decode(errors='replace')}")
        code = 1
    except urllib.error.URLError as exc:
        say(f"central did not accept the examples: {exc}")
        code = 1
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not orphan programs
        signal.signal(sig, signal.SIG_IGN)
    say("stopping")
    if not fleet.stop():
        return code or 1
    say("stopped")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reset", action="store_true",
                        help="wipe the demo data (var/demo, or FIREFLY_DEMO_DIR) first")
    parser.add_argument("--speed", default="1", help="simulated mesh speed factor")
    args = parser.parse_args()
    # Ctrl-C (even where a launcher ignored SIGINT) and SIGTERM stop the demo.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        demo = read_settings(os.environ)
        if args.reset:
            reset(demo.data)
        return run(demo, args.speed)
    except DemoError as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
