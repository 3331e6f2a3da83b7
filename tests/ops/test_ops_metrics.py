"""The agent's Prometheus endpoint (``[metrics] listen``): a real ``firefly-agent run`` scraped
over HTTP and parsed with prometheus_client's own parser, its figures compared with the
station database; off by default; a bad setting refused; the port closed on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config import AgentConfig, MetricsSection, MqttSection, StationSection, load_config
from agent.core.models import EXECUTION_STATUSES, Process, database
from agent.processes import save_process
from agent.settings import ConfigError
from agent.station import Station
from agent.sync.health import sync_client_of
from tests.ops.ops_support import (
    FIREFLY_AGENT,
    RunningAgent,
    agent_env,
    password_broker,
    port_open,
    run_agent,
    running_agent,
    stop,
)
from tests.support import REPO, free_port, wait_until
from tests.sync.sync_support import sqlite_rows

LOGS: dict[str, Any] = {
    "name": "Field check",
    "triggers": [{"trigger_type": "manual"}],
    "actions": [{"action_type": "log", "action_config": {"message": "checked"}}],
}
FAILS: dict[str, Any] = {  # no such alert, and require_match: the step fails
    "name": "Resolve the missing alert",
    "triggers": [{"trigger_type": "manual"}],
    "actions": [{"action_type": "resolve_alert",
                 "action_config": {"alert_uid": "no-such-alert", "require_match": True}}],
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """GET /metrics, parsed: (sample name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, f"{family.name} has no HELP text"
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def tcp_listen_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (Linux: its socket fds in /proc/net/tcp*)."""
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if m := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd)):
                inodes.add(m.group(1))
        except OSError:
            continue  # closed meanwhile
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def write_config(tmp: Path, listen: str) -> Path:
    path = tmp / "agent.toml"
    path.write_text(f"[metrics]\nlisten = {json.dumps(listen)}\n")
    return path


def import_and_run(env: dict[str, str], config: Path, definition: dict[str, Any],
                   runs: int) -> None:
    """Store ``definition`` and run it ``runs`` times with the real commands."""
    path = config.parent / "process.json"
    path.write_text(json.dumps(definition))
    done = run_agent(env, "--config", str(config), "process", "import", str(path))
    assert done.returncode == 0, done.stderr
    for _ in range(runs):
        run_agent(env, "--config", str(config), "process", "run", done.stdout.strip())


@contextmanager
def agent_with_config(env: dict[str, str], config: Path, log: Path) -> Iterator[RunningAgent]:
    """``firefly-agent --config FILE run`` until the block ends (ops_support.running_agent
    runs without --config)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([FIREFLY_AGENT, "--config", str(config), "run"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    agent = RunningAgent(proc, log)
    try:
        wait_until(lambda: "running (db" in agent.output() or proc.poll() is not None,
                   timeout=60, message="firefly-agent run to start")
        assert proc.poll() is None, f"firefly-agent run exited:\n{agent.output()}"
        yield agent
    finally:
        stop(proc)


def test_agent_serves_its_figures_and_closes_the_port_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, f"127.0.0.1:{port}")
    env = agent_env(tmp_path)
    import_and_run(env, config, LOGS, runs=2)
    import_and_run(env, config, FAILS, runs=1)
    db = tmp_path / "station.db"

    with agent_with_config(env, config, tmp_path / "agent.log") as agent:
        assert f"metrics: serving http://127.0.0.1:{port}/metrics" in agent.output()
        assert tcp_listen_ports(agent.proc.pid) == {port}
        samples = scrape(port)

        stored = dict(sqlite_rows(db, "SELECT status, COUNT(*) FROM process_executions "
                                      "GROUP BY status"))
        assert stored == {"completed": 2, "failed": 1}
        for status in EXECUTION_STATUSES:
            assert value(samples, "firefly_agent_executions", status=status) == \
                stored.get(status, 0), status
        assert value(samples, "firefly_agent_processes_loaded") == 2
        (outbox_rows,), = sqlite_rows(db, "SELECT COUNT(*) FROM outbox")
        assert outbox_rows > 0
        assert value(samples, "firefly_agent_outbox_depth") == outbox_rows
        assert value(samples, "firefly_agent_engine_queue_depth") >= 0
        assert value(samples, "firefly_agent_uptime_seconds") > 0
        (build,) = [dict(labels) for name, labels in samples
                    if name == "firefly_agent_build_info"]
        assert build["station"] == "station-1" and build["version"]
        assert "firefly_agent_engine_executions_total" in names(samples)
        assert "process_resident_memory_bytes" in names(samples)
        # Sync and radio are off: their figures are absent rather than zero.
        assert not {"firefly_agent_mqtt_connected", "firefly_agent_radio_connected",
                    "firefly_agent_seconds_since_last_sync"} & names(samples)

        stop(agent.proc, signal.SIGTERM)
        assert agent.proc.returncode == 0, agent.output()
    assert not port_open(port)
    assert "stopping" in agent.output()


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    assert load_config(None, env={}).metrics.address() is None
    with running_agent(agent_env(tmp_path), tmp_path / "agent.log") as agent:
        assert tcp_listen_ports(agent.proc.pid) == set()
        assert "metrics:" not in agent.output()


@pytest.mark.parametrize("listen", ["9108", "localhost", ":9108", "127.0.0.1:", "127.0.0.1:0",
                                    "127.0.0.1:65536", "127.0.0.1:http", "[::1]"])
def test_a_bad_listen_value_is_refused(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError, match=r"^metrics\.listen: expected host:port"):
        load_config(write_config(tmp_path, listen), env={})


def test_good_listen_values() -> None:
    assert MetricsSection("127.0.0.1:9108").address() == ("127.0.0.1", 9108)
    assert MetricsSection("[::1]:9108").address() == ("::1", 9108)
    assert MetricsSection("0.0.0.0:9108").address() == ("0.0.0.0", 9108)


def test_the_command_refuses_a_bad_listen_value(tmp_path: Path) -> None:
    done = run_agent(agent_env(tmp_path), "--config",
                     str(write_config(tmp_path, "127.0.0.1:99999")), "run")
    assert done.returncode == 2
    assert "metrics.listen" in done.stderr and "'127.0.0.1:99999'" in done.stderr


# -- in process: a station object, to reach its sync client and its database -----------------


@contextmanager
def station(tmp: Path, listen: str, mqtt_url: str = "none") -> Iterator[Station]:
    config = AgentConfig(station=StationSection(id="st01", db=str(tmp / "station.db")),
                         mqtt=MqttSection(url=mqtt_url, heartbeat_seconds=3600),
                         metrics=MetricsSection(listen=listen))
    running = Station(config, with_scheduler=False)
    try:
        yield running
    finally:
        sync = sync_client_of(running.services)
        running.stop()
        if sync is not None:
            sync.client._reset_sockets()  # paho leaves loop_start's socket pair open
        if not database.is_closed():
            database.close()


def test_a_port_in_use_leaves_the_station_running_without_metrics(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with station(tmp_path, f"127.0.0.1:{port}") as running, \
                caplog.at_level(logging.INFO, logger="agent.metrics"):
            running.start()
            assert f"metrics: cannot listen on 127.0.0.1:{port}" in caplog.text
            assert running.engine.call(lambda: "engine alive").result(timeout=30) == "engine alive"


@pytest.mark.broker
def test_sync_figures_and_a_figure_that_cannot_be_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with password_broker(tmp_path) as broker, \
            station(tmp_path, f"127.0.0.1:{port}", broker.url()) as running:
        process = save_process(dict(LOGS), origin="st01", hlc=running.services.clock.now())
        running.start()
        handle = running.engine.run_process(process.uid, triggered_by="test")
        assert handle.finished.result(timeout=30) == "completed"

        samples = wait_until(
            lambda: (s := scrape(port)).get(("firefly_agent_mqtt_connected", frozenset())) and s,
            timeout=30, message="the sync client to connect")
        assert value(samples, "firefly_agent_central_online") == 0  # no central here
        assert value(samples, "firefly_agent_dead_letters") == 0
        assert "firefly_agent_sync_batches_total" in names(samples)
        assert "firefly_agent_seconds_since_last_sync" not in names(samples)  # never acked
        (outbox_rows,), = sqlite_rows(tmp_path / "station.db", "SELECT COUNT(*) FROM outbox")
        assert value(samples, "firefly_agent_outbox_depth") == outbox_rows > 0
        assert value(samples, "firefly_agent_executions", status="completed") == 1
        assert value(samples, "firefly_agent_processes_loaded") == Process.select().count() == 1

        # A figure whose table is gone is logged and left out; the others are still served.
        rename = "ALTER TABLE process_executions RENAME TO {}"
        running.engine.call(lambda: database.execute_sql(
            rename.format("process_executions_away"))).result(timeout=30)
        with caplog.at_level(logging.ERROR, logger="agent.metrics"):
            samples = scrape(port)
        assert "firefly_agent_executions" not in names(samples)
        assert value(samples, "firefly_agent_processes_loaded") == 1
        assert "metrics: the executions figures could not be read" in caplog.text
        running.engine.call(lambda: database.execute_sql(
            "ALTER TABLE process_executions_away RENAME TO process_executions")).result(timeout=30)
    assert not port_open(port)
