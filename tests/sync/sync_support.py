"""Helpers for the sync tests: a real Mosquitto, agent and central subprocesses, queries."""

from __future__ import annotations

import getpass
import json
import os
import queue
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg2
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import REPO, free_port, wait_until

MOSQUITTO = "/usr/sbin/mosquitto"
ACL = REPO / "deploy" / "mosquitto" / "acl.conf"
PASSWORD = "pw-" + secrets.token_hex(4)
PG_URL = os.environ.get("FIREFLY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Mosquitto:
    """A broker on a free loopback port with the project's ACL and a password per user.

    ``allow_anonymous`` is on (tests may connect without a user), but with the ACL an
    anonymous client can do nothing useful; persistence is on with ``autosave_interval 1``.
    """

    directory: Path
    port: int = field(default_factory=free_port)
    users: set[str] = field(default_factory=set)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    def url(self, user: str) -> str:
        self.add_user(user)
        return f"mqtt://{user}:{PASSWORD}@127.0.0.1:{self.port}"

    def add_user(self, *users: str) -> None:
        new = [u for u in users if u not in self.users]
        if not new:
            return
        if not self.passwd.exists():
            self.passwd.touch(mode=0o600)
        for user in new:
            subprocess.run(["mosquitto_passwd", "-b", str(self.passwd), user, PASSWORD],
                           check=True, capture_output=True, timeout=30)
            self.users.add(user)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)  # re-reads the password file
            wait_until(lambda: self.accepts(new[-1]), timeout=10,
                       message=f"mosquitto to accept the new user {new[-1]}")

    def accepts(self, user: str) -> bool:
        """Whether the running broker lets ``user`` in (a CONNECT, then DISCONNECT)."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(user, PASSWORD)
        answers: list[bool] = []
        client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(not reason.is_failure)
        try:
            client.connect("127.0.0.1", self.port, keepalive=5)
            deadline = time.monotonic() + 2.0
            while not answers and time.monotonic() < deadline:
                client.loop(timeout=0.05)
        except OSError:
            return False
        finally:
            client.disconnect()
        return bool(answers and answers[0])

    def write_conf(self) -> None:
        run_as = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""
        (self.directory / "data").mkdir(exist_ok=True)
        if not self.passwd.exists():
            self.passwd.touch(mode=0o600)
        self.conf.write_text(
            f"{run_as}per_listener_settings false\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"password_file {self.passwd}\n"
            f"acl_file {ACL}\n"
            "persistence true\n"
            f"persistence_location {self.directory / 'data'}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "message_size_limit 1048576\n"
            f"log_dest file {self.directory / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n", encoding="utf-8")

    def start(self) -> None:
        self.write_conf()
        with open(self.directory / "mosquitto.out", "ab") as out:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT)
        proc = self.proc
        wait_until(lambda: port_open(self.port) or proc.poll() is not None, timeout=20,
                   message="mosquitto to listen")
        assert proc.poll() is None, (self.directory / "mosquitto.out").read_text()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: whatever the broker had not saved is lost."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def reset(self) -> None:
        """A broker with no retained messages or sessions (same port, same users)."""
        self.stop()
        for path in (self.directory / "data").glob("*"):
            path.unlink()
        self.start()


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def spawn(args: list[str], env: Mapping[str, str], log: Path) -> Proc:
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)
    return Proc(proc, log)


def agent_env(db: Path, station: str, mqtt_url: str) -> dict[str, str]:
    return {"FIREFLY_DB": str(db), "FIREFLY_STATION_ID": station, "FIREFLY_RADIO": "none",
            "FIREFLY_MQTT": mqtt_url, "FIREFLY_LOG_LEVEL": "info"}


def write_agent_config(path: Path, heartbeat_seconds: int = 2, batch_size: int = 50) -> Path:
    path.write_text(f"[mqtt]\nheartbeat_seconds = {heartbeat_seconds}\n"
                    f"batch_size = {batch_size}\n", encoding="utf-8")
    return path


def start_agent(tmp: Path, db: Path, station: str, mqtt_url: str, name: str = "agent") -> Proc:
    config = write_agent_config(tmp / f"{name}.toml")
    env = agent_env(db, station, mqtt_url)
    return spawn([sys.executable, "-m", "agent", "--config", str(config), "run"], env,
                 tmp / f"{name}.log")


def start_central(tmp: Path, database_url: str, mqtt_url: str, port: int,
                  name: str = "central") -> Proc:
    env = {"FIREFLY_DATABASE_URL": database_url, "FIREFLY_LISTEN": f"127.0.0.1:{port}",
           "FIREFLY_MQTT": mqtt_url, "FIREFLY_LOG_LEVEL": "info"}
    proc = spawn([sys.executable, "-m", "central", "serve"], env, tmp / f"{name}.log")
    wait_until(lambda: port_open(port) or not proc.alive(), timeout=60,
               message="firefly-central serve to listen")
    assert proc.alive(), proc.output()
    return proc


def sqlite_rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own for one test module; dropped at the end."""
    name = f"sync_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = psycopg2.connect(PG_URL, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def central_rows(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows from central's database (SQLite file or PostgreSQL), read-only."""
    if database_url.startswith("sqlite:///"):
        return sqlite_rows(Path(database_url.removeprefix("sqlite:///")), sql, *args)
    base, _, query = database_url.partition("?schema=")
    options = f"-c search_path={query}" if query else None
    con = psycopg2.connect(base, connect_timeout=5, options=options)
    try:
        with con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), args)
            return list(cur.fetchall())
    except psycopg2.errors.UndefinedTable:
        return []
    finally:
        con.close()


def json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


LOG_PROCESS: dict[str, Any] = {
    "name": "Field check",
    "mode": "parallel",
    "max": 100,
    "triggers": [{"trigger_type": "manual"}],
    "actions": [
        {"action_type": "log", "action_config": {"message": "check {{ event.n }} begins"}},
        {"action_type": "log", "action_config": {"message": "check {{ event.n }} done"}},
    ],
}


def prefill_station(db: Path, station: str, runs: int,
                    definition: dict[str, Any] | None = None,
                    extra: tuple[dict[str, Any], ...] = ()) -> str:
    """A station database with a process (edited at the station) and ``runs`` executions of
    it, made by the real engine, plus the ``extra`` definitions. Returns the process uid."""
    from agent.core.db import open_and_migrate
    from agent.core.ids import HybridClock
    from agent.processes import save_process
    from tests.support import make_engine

    handle = open_and_migrate(str(db))
    try:
        clock = HybridClock(station)
        process = save_process(dict(definition or LOG_PROCESS), origin=station, hlc=clock.now())
        for other in extra:
            save_process(dict(other), origin=station, hlc=clock.now())
        engine = make_engine(station, rate_limit_per_minute=1_000_000)
        engine.start()
        # Test set-up only: skip the fsync per commit (the agent itself runs with FULL).
        engine.call(lambda: handle.execute_sql("PRAGMA synchronous=OFF")).result(10)
        try:
            handles = [engine.run_process(process.uid, {"n": i}) for i in range(runs)]
            for run in handles:
                run.finished.result(timeout=120)
        finally:
            engine.stop()
        return str(process.uid)
    finally:
        handle.close()


def ticking_process(until: float, name: str = "Tick") -> dict[str, Any]:
    """Runs every second while the agent runs, until the Unix time ``until``."""
    return {"name": name, "mode": "parallel", "max": 10,
            "triggers": [{"trigger_type": "time_schedule",
                          "trigger_config": {"interval_seconds": 1},
                          "conditions": {"field": "event.time", "op": "lt", "value": until}}],
            "actions": [{"action_type": "log", "action_config": {"message": "tick"}}]}


@dataclass
class Field:
    """One station, central and the broker, as separate processes; what each one holds."""

    tmp: Path
    broker: Mosquitto
    station: str
    central_url: str
    db: Path = field(init=False)
    http_port: int = field(default_factory=free_port)
    agent: Proc | None = None
    central: Proc | None = None
    _token: str | None = None
    batch_size: int = 50

    def __post_init__(self) -> None:
        self.db = self.tmp / f"{self.station}.db"

    def start_central(self) -> Proc:
        self.central = start_central(self.tmp, self.central_url, self.broker.url("central"),
                                     self.http_port)
        return self.central

    def start_agent(self) -> Proc:
        config = write_agent_config(self.tmp / "agent.toml", batch_size=self.batch_size)
        self.agent = spawn([sys.executable, "-m", "agent", "--config", str(config), "run"],
                           agent_env(self.db, self.station, self.broker.url(self.station)),
                           self.tmp / "agent.log")
        return self.agent

    def stop_all(self) -> None:
        for proc in (self.agent, self.central):
            if proc is not None:
                proc.stop()

    def logs(self) -> str:
        return "\n".join(p.log.read_text(errors="replace")[-4000:]
                         for p in (self.agent, self.central) if p is not None)

    # -- central's API ------------------------------------------------------------------------

    @property
    def token(self) -> str:
        if self._token is None:
            env = {**os.environ, "FIREFLY_DATABASE_URL": self.central_url}
            run = [sys.executable, "-m", "central"]
            subprocess.run([*run, "admin", "create", "sync-admin", "--role", "admin"],
                           input=b"a long test password\n", env=env, cwd=REPO, check=True,
                           capture_output=True, timeout=60)
            out = subprocess.run([*run, "token", "create", "sync-admin"], env=env, cwd=REPO,
                                 check=True, capture_output=True, timeout=60)
            self._token = out.stdout.decode().strip().splitlines()[-1]
        return self._token

    def api(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def create_process(self, definition: dict[str, Any]) -> dict[str, Any]:
        """POST /api/processes; the new process's id, uid and name."""
        created = self.api("POST", "/api/processes", definition)
        detail = self.api("GET", f"/api/processes/{created['process_id']}")
        return {"id": created["process_id"], "uid": detail["uid"], "name": detail["name"]}

    # -- state on each side -------------------------------------------------------------------

    def station_executions(self) -> dict[str, tuple[str, int]]:
        return {uid: (status, steps) for uid, status, steps in sqlite_rows(
            self.db, "SELECT e.uid, e.status, (SELECT COUNT(*) FROM process_execution_steps s "
                     "WHERE s.execution_id = e.id) FROM process_executions e")}

    def central_executions(self) -> dict[str, tuple[str, int]]:
        rows = central_rows(
            self.central_url,
            "SELECT e.uid, e.status, (SELECT COUNT(*) FROM process_execution_steps s "
            "WHERE s.execution_id = e.id) FROM process_executions e WHERE e.station_id = ?",
            self.station)
        return {uid: (status, steps) for uid, status, steps in rows}

    def central_execution_count(self) -> int:
        return int(central_rows(self.central_url, "SELECT COUNT(*) FROM process_executions "
                                                  "WHERE station_id = ?", self.station)[0][0])

    def outbox_depth(self) -> int:
        acked = sqlite_rows(self.db, "SELECT value FROM key_value WHERE key = ?",
                            "sync.acked_upto")
        floor = int(json.loads(acked[0][0])) if acked else 0
        return int(sqlite_rows(self.db, "SELECT COUNT(*) FROM outbox WHERE seq > ?",
                               floor)[0][0])

    def converged(self) -> bool:
        """Central holds every execution of the station, once, as the station has it now,
        and the station's outbox is empty."""
        if self.outbox_depth() != 0:
            return False
        return self.station_executions() == self.central_executions()

    def station_processes(self) -> dict[str, tuple[str, bool, bool]]:
        """uid -> (name, is_active, deleted) on the station."""
        return {uid: (name, bool(active), bool(deleted)) for uid, name, active, deleted in
                sqlite_rows(self.db, "SELECT uid, name, is_active, deleted FROM processes")}

    def central_processes(self) -> dict[str, tuple[str, bool, bool]]:
        return {uid: (name, bool(active), bool(deleted)) for uid, name, active, deleted in
                central_rows(self.central_url,
                             "SELECT uid, name, is_active, deleted FROM processes")}


class Raw:
    """A bare MQTT v5 client: what it receives, and the PUBACK reason of what it sends."""

    def __init__(self, broker: Mosquitto, user: str) -> None:
        broker.add_user(user)
        self.messages: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.acks: dict[int, int] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, PASSWORD)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid,
                                                                                  rc.value)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def subscribe(self, topic: str) -> None:
        result, _mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Publish QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return int(wait_until(lambda: self.acks.get(info.mid, None) is not None
                              and (self.acks[info.mid],), timeout=10)[0])

    def received(self, topic_part: str, timeout: float = 10.0) -> list[bytes]:
        out: list[bytes] = []
        try:
            while True:
                topic, payload = self.messages.get(timeout=timeout if not out else 0.5)
                if topic_part in topic:
                    out.append(payload)
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
