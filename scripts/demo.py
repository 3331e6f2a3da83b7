"""The Firefly demo: Mosquitto, central, firefly-sim with two station radios, two agents.

Everything runs on loopback, with its data in var/demo/ (kept between runs; --reset wipes it).
Each program is a separate process, started the way an operator would start it, and stopped
with SIGTERM on Ctrl-C.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "var" / "demo"
EXAMPLES = REPO / "docs" / "examples"
BIN = Path(sys.executable).parent
STATIONS = {"north": 4403, "south": 4404}
BROKER_PORT = 1884
SIM_CONTROL = "127.0.0.1:8081"


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, what: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if proc.poll() is not None:
            raise SystemExit(f"demo: {what} exited with {proc.returncode}; see {DATA}/logs/")
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: {what} did not open port {port} within {timeout:.0f} s")
        time.sleep(0.2)


class Fleet:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        (DATA / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) \
            -> subprocess.Popen[bytes]:
        with open(DATA / "logs" / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **(env or {})},
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in 10 s; killing it")
                proc.kill()


def broker_config() -> Path:
    conf = DATA / "mosquitto.conf"
    (DATA / "mosquitto").mkdir(parents=True, exist_ok=True)
    conf.write_text(
        "# Demo only: anonymous clients on loopback. Production: deploy/mosquitto/.\n"
        f"listener {BROKER_PORT} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {DATA}/mosquitto/\nautosave_interval 5\n")
    return conf


def api(method: str, path: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:8080{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def central_setup(env: dict[str, str]) -> tuple[str, str]:
    """The demo admin (password kept in var/demo) and a token for installing the examples."""
    secret_file = DATA / "admin-password"
    central = [str(BIN / "firefly-central")]
    subprocess.run([*central, "migrate"], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)
    if not secret_file.exists():
        password = secrets.token_urlsafe(9)
        subprocess.run([*central, "admin", "create", "demo", "--role", "admin"],
                       input=(password + "\n").encode(), env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        secret_file.write_text(password)
    token = subprocess.run([*central, "token", "create", "demo", "--label", "demo installer"],
                           env={**os.environ, **env}, check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    return secret_file.read_text().strip(), token


def install_examples(token: str) -> None:
    """Module records first (zones, groups, users), then the example processes; idempotent."""
    setup = json.loads((EXAMPLES / "demo-setup.json").read_text())
    for collection, records in setup.items():
        existing = {r.get("name") for r in api("GET", f"/api/{collection}?limit=500", token)
                    .get(collection, [])}
        for record in records:
            if record["name"] not in existing:
                api("POST", f"/api/{collection}", token, record)
    names = {p["name"] for p in api("GET", "/api/processes?limit=500", token)["processes"]}
    for path in sorted(EXAMPLES.glob("*.process.json")):
        definition = json.loads(path.read_text())
        if definition["name"] not in names:
            api("POST", "/api/processes", token, definition)
            say(f"installed process '{definition['name']}'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reset", action="store_true", help="wipe var/demo first")
    parser.add_argument("--speed", default="1", help="simulated mesh speed factor")
    args = parser.parse_args()
    if args.reset and DATA.exists():
        shutil.rmtree(DATA)
        say("data reset")
    DATA.mkdir(parents=True, exist_ok=True)
    for port in (BROKER_PORT, 8080, 8081, *STATIONS.values()):
        if port_open(port):
            say(f"port {port} is in use (another demo running?)")
            return 2
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        say("mosquitto is not installed; run scripts/install (it installs it with apt)")
        return 2
    fleet = Fleet()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        broker = fleet.start("mosquitto", [mosquitto, "-c", str(broker_config())])
        wait_port(BROKER_PORT, "mosquitto", broker)
        mqtt = f"mqtt://127.0.0.1:{BROKER_PORT}"
        central_env = {"FIREFLY_DATABASE_URL": f"sqlite:///{DATA}/central.db",
                       "FIREFLY_LISTEN": "127.0.0.1:8080", "FIREFLY_MQTT": mqtt}
        password, token = central_setup(central_env)
        central = fleet.start("central", [str(BIN / "firefly-central"), "serve"], central_env)
        wait_port(8080, "central", central)
        install_examples(token)
        sim_args = [str(BIN / "firefly-sim"), "--control", SIM_CONTROL, "--scenario", "demo",
                    "--speed", args.speed]
        for port in STATIONS.values():
            sim_args += ["--radio-port", str(port)]
        sim = fleet.start("firefly-sim", sim_args)
        wait_port(8081, "firefly-sim", sim)
        for station, port in STATIONS.items():
            config = DATA / f"{station}.toml"
            config.write_text(f'[station]\nid = "{station}"\ndb = "{DATA / station}.db"\n'
                              f'[radio]\nurl = "tcp://127.0.0.1:{port}"\n'
                              'command_nodes = ["!e5f6a7b8"]  # Dan, the team lead\n'
                              f'[mqtt]\nurl = "mqtt://{station}@127.0.0.1:{BROKER_PORT}"\n')
            fleet.start(f"agent-{station}",
                        [str(BIN / "firefly-agent"), "--config", str(config), "run"])
        print(f"""
  Firefly demo is running.

    Admin page:   http://127.0.0.1:8080     user: demo   password: {password}
    Mesh control: http://{SIM_CONTROL}/nodes   (firefly-sim control API)
    MQTT broker:  127.0.0.1:{BROKER_PORT}  (demo broker: anonymous, loopback only)
    Stations:     north (radio tcp://127.0.0.1:4403), south (radio tcp://127.0.0.1:4404)
    Logs:         {DATA}/logs/

  Within a minute: Anna's SOS raises a critical alert, Bea crosses the avalanche zone,
  Carl goes silent and comes back, the relay's battery runs low. Watch the Monitor page.
  Ctrl-C stops everything.
""", flush=True)
        while not stop["now"]:
            for name, proc in fleet.procs:
                if proc.poll() is not None:
                    say(f"{name} exited with {proc.returncode}; see {DATA}/logs/{name}.log")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except urllib.error.HTTPError as exc:
        say(f"central did not accept the examples: {exc}: {exc.read().decode(errors='replace')}")
        return 1
    except urllib.error.URLError as exc:
        say(f"central did not accept the examples: {exc}")
        return 1
    finally:
        say("stopping")
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
