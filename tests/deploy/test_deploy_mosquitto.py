"""The production Mosquitto config, started for real: paths and ports moved to a temporary
directory, a certificate from deploy/mosquitto/make-cert, stations made by
deploy/mosquitto/add-station, the ACL of deploy/mosquitto/acl.conf. The agent's own doctor
proves that a station config made by add-station connects over TLS."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import load_config
from agent.doctor import FAIL, OK, check_broker
from agent.sync.protocol import status_topic
from tests.ops.ops_support import FIREFLY_AGENT, mosquitto, run_as_user_line
from tests.support import REPO, free_port, unavailable, wait_until

MOSQ = REPO / "deploy" / "mosquitto"
HAVE_OPENSSL = shutil.which("openssl") is not None
pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _needs_mosquitto_passwd() -> None:
    if shutil.which("mosquitto_passwd") is None:
        unavailable("mosquitto_passwd is not installed (apt install mosquitto)")


@dataclass
class Broker:
    dir: Path
    tls_port: int
    local_port: int
    proc: subprocess.Popen[bytes]

    @property
    def passwd(self) -> Path:
        return self.dir / "passwd"

    @property
    def ca(self) -> Path:
        return self.dir / "certs" / "firefly-ca.crt"

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)
        log = self.dir / "mosquitto.log"
        wait_until(lambda: "Reloading config" in log.read_text(), timeout=10,
                   message="mosquitto to reload")


def add_station(broker_dir: Path, station: str, tls_port: int, *extra: str) \
        -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MOSQ / "add-station"), station, "--passwd", str(broker_dir / "passwd"),
         "--broker", f"127.0.0.1:{tls_port}", "--ca-file",
         str(broker_dir / "certs" / "firefly-ca.crt"), "--out",
         str(broker_dir / f"{station}.toml"), "--no-reload",
         *(() if HAVE_OPENSSL else ("--plain",)), *extra],
        capture_output=True, text=True, timeout=60)


def production_config(target: Path, tls_port: int, local_port: int,
                      listener_file: Path = MOSQ / "conf.d" / "local-listener.conf") -> Path:
    """deploy/mosquitto/mosquitto.conf with every path and port moved into ``target``."""
    confd = target / "conf.d"
    confd.mkdir()
    listener = listener_file.read_text()
    listener = re.sub(r"^listener 1883\b", f"listener {local_port}", listener, flags=re.M)
    (confd / "listener.conf").write_text(listener)
    shutil.copy(MOSQ / "acl.conf", target / "acl.conf")
    (target / "data").mkdir()
    moved = {
        "password_file": str(target / "passwd"),
        "acl_file": str(target / "acl.conf"),
        "persistence_location": f"{target / 'data'}/",
        "certfile": str(target / "certs" / "firefly-server.crt"),
        "keyfile": str(target / "certs" / "firefly-server.key"),
        "include_dir": str(confd),
        "log_dest": f"file {target / 'mosquitto.log'}",
    }
    lines = [run_as_user_line().strip()]
    tls = ("certfile", "keyfile", "tls_version")
    for line in (MOSQ / "mosquitto.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener" and line.split()[1] == "8883":
            line = f"listener {tls_port} 127.0.0.1"
        elif key in tls and not HAVE_OPENSSL:
            continue  # no certificate without openssl: the TLS listener runs plain
        elif key in moved:
            line = f"{key} {moved[key]}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    leftovers = [line for line in text.splitlines()
                 if not line.startswith("#") and re.search(r"\s/(etc|var|run)/", line)]
    assert leftovers == [], f"system paths left in the test config: {leftovers}"
    conf = target / "mosquitto.conf"
    conf.write_text(text)
    return conf


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if HAVE_OPENSSL:
        made = subprocess.run([str(MOSQ / "make-cert"), "localhost,127.0.0.1",
                               str(tmp_path / "certs")], capture_output=True, text=True,
                              timeout=60)
        assert made.returncode == 0, made.stderr
    tls_port, local_port = free_port(), free_port()
    assert add_station(tmp_path, "st01", tls_port).returncode == 0
    conf = production_config(tmp_path, tls_port, local_port)
    with mosquitto(conf, [tls_port, local_port], tmp_path / "mosquitto.out") as proc:
        yield Broker(tmp_path, tls_port, local_port, proc)


def doctor_broker(config: Path, tmp: Path) -> dict[str, str]:
    """The broker check of ``firefly-agent --config CONFIG doctor`` (the real command)."""
    env = {"PATH": os.environ["PATH"], "FIREFLY_DB": str(tmp / "station.db"),
           "FIREFLY_RADIO": "none"}
    done = subprocess.run([FIREFLY_AGENT, "--config", str(config), "doctor", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    check: dict[str, str] = {c["name"]: c for c in json.loads(done.stdout)["checks"]}["broker"]
    return check


def publish_reason(url_user: str, password: str, port: int, topic: str) -> int:
    """Publish QoS 1 on the local listener; the broker's PUBACK reason code."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=url_user,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(url_user, password)
    reasons: list[int] = []
    done = threading.Event()

    def on_publish(c: object, u: object, mid: int, reason: object, props: object) -> None:
        reasons.append(int(getattr(reason, "value", 0)))
        done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, b"x", qos=1)
        assert done.wait(10), "no PUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return reasons[0]


def test_production_config_serves_stations_made_by_add_station(broker: Broker) -> None:
    config = broker.dir / "st01.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    settings = load_config(config, env={})
    assert settings.station.id == "st01"
    scheme = "mqtts" if HAVE_OPENSSL else "mqtt"
    assert settings.mqtt.url.startswith(f"{scheme}://st01:")
    assert settings.mqtt.url.endswith(f"@127.0.0.1:{broker.tls_port}")
    assert settings.mqtt.ca_file == str(broker.ca)
    check = doctor_broker(config, broker.dir)
    assert check["verdict"] == OK, check  # TLS with the made CA, the password add-station set
    password = settings.mqtt.url.split(":")[2].split("@")[0]
    assert password not in json.dumps(check)

    local = f"mqtt://127.0.0.1:{broker.local_port}"
    anonymous = check_broker(local)
    assert anonymous.verdict == FAIL and "refused" in anonymous.detail
    wrong = check_broker(f"mqtt://st01:wrong@127.0.0.1:{broker.local_port}")
    assert wrong.verdict == FAIL
    assert check_broker(f"mqtt://st01:{password}@127.0.0.1:{broker.local_port}").verdict == OK

    # The ACL: a station publishes on its own topics only.
    assert publish_reason("st01", password, broker.local_port, status_topic("st01")) < 0x80
    assert publish_reason("st01", password, broker.local_port, status_topic("st02")) == 0x87


def test_new_station_and_new_password_after_reload(broker: Broker) -> None:
    added = add_station(broker.dir, "st02", broker.tls_port)
    assert added.returncode == 0, added.stderr
    st02 = broker.dir / "st02.toml"
    assert doctor_broker(st02, broker.dir)["verdict"] == FAIL  # not loaded yet
    broker.reload()
    assert doctor_broker(st02, broker.dir)["verdict"] == OK

    again = add_station(broker.dir, "st02", broker.tls_port)
    assert again.returncode != 0 and "--rotate" in again.stderr
    old = st02.read_text()
    rotated = add_station(broker.dir, "st02", broker.tls_port, "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert st02.read_text() != old
    (broker.dir / "old.toml").write_text(old)
    broker.reload()
    assert doctor_broker(st02, broker.dir)["verdict"] == OK
    assert doctor_broker(broker.dir / "old.toml", broker.dir)["verdict"] == FAIL


def test_add_station_refuses_bad_and_reserved_names(tmp_path: Path) -> None:
    for name in ("central", "monitor", "bad/name", "a b", "x" * 65):
        done = add_station(tmp_path, name, 8883)
        assert done.returncode != 0, name
    assert not (tmp_path / "passwd").exists() or (tmp_path / "passwd").read_text() == ""


def test_persistence_is_written_and_autosave_is_short(tmp_path: Path) -> None:
    conf = (MOSQ / "mosquitto.conf").read_text()
    autosave = int(re.search(r"^autosave_interval (\d+)$", conf, re.M).group(1))  # type: ignore[union-attr]
    assert 0 < autosave <= 60
    assert re.search(r"^persistence true$", conf, re.M)
    assert re.search(r"^allow_anonymous false$", conf, re.M)
    if HAVE_OPENSSL:
        assert subprocess.run([str(MOSQ / "make-cert"), "127.0.0.1", str(tmp_path / "certs")],
                              capture_output=True, timeout=60).returncode == 0
    tls_port, local_port = free_port(), free_port()
    # The compose variant: the plain listener on every interface of the container.
    config = production_config(tmp_path, tls_port, local_port,
                               REPO / "deploy" / "compose" / "mosquitto-listener.conf")
    (tmp_path / "passwd").touch()
    with mosquitto(config, [tls_port, local_port], tmp_path / "out") as proc:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert (tmp_path / "data" / "mosquitto.db").exists()
