"""Sync benchmark: central's ingest rate from 100 stations, and a backlog's convergence.

1. Ingest: 100 simulated stations publish their outbox batches (real execution records, as
   the engine writes them: 2 steps, 6 log lines each; batches of at most 192 KiB, as the agent
   makes them) to a real Mosquitto; central's sync workers (``python -m central.sync``, the
   production code, N processes on shared subscriptions) ingest them into SQLite or
   PostgreSQL. Measured: records committed per second, from the first publish to the last
   commit (the rollup triggers of central's schema are on, as in production).
2. Convergence: a station whose outbox holds 10,000 unsent executions starts
   (``firefly-agent run``) against a running ``firefly-central serve``; measured: time from the
   agent's start to every execution committed at central and the station's outbox empty.

    .venv/bin/python bench/bench_sync.py                         # everything
    .venv/bin/python bench/bench_sync.py --db postgres --workers 2 --skip-convergence
"""

from __future__ import annotations

import argparse
import getpass
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
import psycopg2
from paho.mqtt.enums import CallbackAPIVersion

from agent.core.codec import decode, encode
from agent.core.ids import new_uid
from agent.sync import protocol
from tests.support import free_port, wait_until
from tests.sync.sync_support import (
    LOG_PROCESS,
    central_rows,
    port_open,
    prefill_station,
    sqlite_rows,
)

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("FIREFLY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class Broker:
    """Mosquitto on a free port; anonymous (the ACL is not what is measured)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        run_as = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""
        conf = directory / "mosquitto.conf"
        conf.write_text(f"{run_as}listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 1000000\n"
                        "max_queued_bytes 0\nmessage_size_limit 1048576\n"
                        f"log_dest file {directory / 'mosquitto.log'}\n")
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port), timeout=20)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def template_record(directory: Path) -> dict[str, Any]:
    """One execution record exactly as a station's engine writes it to its outbox."""
    db = directory / "template.db"
    prefill_station(db, "st-template", 1)
    (payload,) = sqlite_rows(db, "SELECT payload FROM outbox WHERE kind = 'execution' "
                                 "ORDER BY seq DESC LIMIT 1")[0]
    _kind, record, _v = decode(bytes(payload))
    return record


def station_record(template: dict[str, Any], station: str) -> dict[str, Any]:
    record = dict(template, uid=new_uid(), station_id=station)
    record["steps"] = [dict(step, uid=new_uid()) for step in template["steps"]]
    return record


def station_batches(template: dict[str, Any], station: str, count: int) -> list[bytes]:
    """The station's outbox as the agent sends it: contiguous seqs, <= 192 KiB per batch."""
    batches: list[bytes] = []
    records: list[dict[str, Any]] = []
    size, first = 0, 1
    for seq in range(1, count + 1):
        payload = encode("execution", station_record(template, station))
        if records and (size + len(payload) > protocol.MAX_BATCH_BYTES or len(records) >= 200):
            batches.append(encode("batch", {"station": station, "inc": f"inc-{station}",
                                            "from": first, "records": records}))
            records, size, first = [], 0, seq
        records.append({"seq": seq, "kind": "execution", "uid": f"r{seq}", "payload": payload})
        size += len(payload)
    batches.append(encode("batch", {"station": station, "inc": f"inc-{station}",
                                    "from": first, "records": records}))
    return batches


def fresh_database(kind: str, directory: Path, rollups: bool = True) -> tuple[str, Any]:
    """A migrated, empty central database; (url, cleanup). ``rollups`` False drops central's
    rollup triggers (a diagnosis: what they cost the ingest)."""
    from central.db import open_central_database
    from central.rollups import drop_triggers_v1

    if kind == "sqlite":
        url = f"sqlite:///{directory / 'central.db'}"
        cleanup: Any = lambda: None  # noqa: E731
    else:
        name = f"bench_sync_{secrets.token_hex(3)}"
        admin = psycopg2.connect(PG_URL)
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {name}")
        url = f"{PG_URL.rsplit('/', 1)[0]}/{name}"

        def cleanup() -> None:
            cur = admin.cursor()
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.close()
    db = open_central_database(url)
    if not rollups:
        with db.connection_context():
            drop_triggers_v1(db)
    db.close()
    return url, cleanup


def start_workers(url: str, broker: Broker, workers: int, directory: Path) \
        -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "FIREFLY_DATABASE_URL": url, "FIREFLY_MQTT": broker.url,
           "FIREFLY_LOG_LEVEL": "warning"}
    procs = []
    for i in range(workers):
        with open(directory / f"worker-{i}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "central.sync", "--worker-id", f"bench-{i}"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    return procs


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system) used so far by the named processes and by every PostgreSQL
    server process (Linux: /proc)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    totals = {name: sum(used(pid) for pid in group) for name, group in pids.items()}
    totals["postgres"] = sum(used(int(p.name)) for p in Path("/proc").iterdir()
                             if p.name.isdigit() and _command(p) == "postgres")
    return totals


def _command(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


def wait_workers_online(broker: Broker, workers: int) -> None:
    online: set[str] = set()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-watch",
                         protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: online.add(m.topic) if b'"online"' in m.payload \
        else None
    client.connect("127.0.0.1", broker.port)
    client.subscribe(f"{protocol.CENTRAL_STATUS}/+", qos=1)
    client.loop_start()
    wait_until(lambda: len(online) >= workers, timeout=60, message="workers online")
    client.loop_stop()
    client.disconnect()


def ingest(kind: str, workers: int, stations: int, per_station: int, directory: Path,
           template: dict[str, Any], rollups: bool = True) -> dict[str, Any]:
    broker = Broker(directory)
    url, cleanup = fresh_database(kind, directory, rollups)
    procs = start_workers(url, broker, workers, directory)
    try:
        wait_workers_online(broker, workers)
        per = [[(protocol.up_topic(f"bench-{s:03d}", protocol.BATCH), payload)
                for payload in station_batches(template, f"bench-{s:03d}", per_station)]
               for s in range(stations)]
        # The stations' batches interleaved, as they would arrive.
        messages = [m for group in itertools.zip_longest(*per) for m in group if m]
        total = stations * per_station
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-stations",
                                protocol=mqtt.MQTTv5)
        publisher.max_inflight_messages_set(100)
        publisher.max_queued_messages_set(0)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        pids = {"workers": [p.pid for p in procs], "mosquitto": [broker.proc.pid],
                "bench": [os.getpid()]}
        cpu0 = cpu_seconds(pids)
        t0 = time.perf_counter()
        for topic, payload in messages:
            publisher.publish(topic, payload, qos=1)
        published = time.perf_counter() - t0
        wait_until(lambda: central_rows(url, "SELECT COUNT(*) FROM process_executions")[0][0]
                   >= total, timeout=900, interval=0.1, message="every record at central")
        elapsed = time.perf_counter() - t0
        cpu = {k: round((v - cpu0.get(k, 0.0)) * 1e6 / total)
               for k, v in cpu_seconds(pids).items()}
        publisher.loop_stop()
        publisher.disconnect()
        count = central_rows(url, "SELECT COUNT(*) FROM process_executions")[0][0]
        steps = central_rows(url, "SELECT COUNT(*) FROM process_execution_steps")[0][0]
        logs = central_rows(url, "SELECT COUNT(*) FROM process_execution_logs")[0][0]
        return {"db": kind, "workers": workers, "rollup_triggers": rollups,
                "stations": stations, "records": count,
                "batches": len(messages), "steps": steps, "logs": logs,
                "publish_s": round(published, 2), "seconds": round(elapsed, 2),
                "records_per_s": round(count / elapsed), "cpu_us_per_record": cpu}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        broker.stop()
        cleanup()


def backlog_station(db: Path, station: str, count: int, template: dict[str, Any]) -> None:
    """A station database whose outbox holds ``count`` unsent executions (bulk-made copies
    of a real execution, each with its own uid, steps and logs)."""
    from agent.core.db import open_and_migrate
    from agent.core.models import Outbox, ProcessExecution, database
    from agent.processes import save_process

    handle = open_and_migrate(str(db))
    process = save_process(dict(LOG_PROCESS), origin="central", hlc="")
    with database.atomic():
        for start in range(0, count, 500):
            executions, outbox = [], []
            for _ in range(start, min(count, start + 500)):
                record = station_record(template, station)
                record["process_uid"] = process.uid
                executions.append({"uid": record["uid"], "process_id": process.id,
                                   "process_uid": process.uid, "station_id": station,
                                   "status": record["status"]})
                outbox.append({"kind": "execution", "uid": record["uid"],
                               "payload": encode("execution", record)})
            ProcessExecution.insert_many(executions).execute()
            Outbox.insert_many(outbox).execute()
    handle.close()


def convergence(kind: str, count: int, directory: Path, template: dict[str, Any]) \
        -> dict[str, Any]:
    broker = Broker(directory)
    url, cleanup = fresh_database(kind, directory)
    station = "bench-backlog"
    db = directory / "station.db"
    backlog_station(db, station, count, template)
    http = free_port()
    env = {**os.environ, "FIREFLY_DATABASE_URL": url, "FIREFLY_MQTT": broker.url,
           "FIREFLY_LISTEN": f"127.0.0.1:{http}", "FIREFLY_LOG_LEVEL": "warning",
           "FIREFLY_DB": str(db), "FIREFLY_STATION_ID": station, "FIREFLY_RADIO": "none"}
    with open(directory / "central.log", "ab") as log:
        central = subprocess.Popen([sys.executable, "-m", "central", "serve"], env=env,
                                   cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    agent = None
    try:
        wait_until(lambda: port_open(http), timeout=60)
        wait_workers_online(broker, 1)
        t0 = time.perf_counter()
        with open(directory / "agent.log", "ab") as log:
            agent = subprocess.Popen([sys.executable, "-m", "agent", "run"], env=env, cwd=REPO,
                                     stdout=log, stderr=subprocess.STDOUT)

        def done() -> bool:
            have = central_rows(url, "SELECT COUNT(*) FROM process_executions "
                                     "WHERE station_id = ?", station)[0][0]
            if have < count:
                return False
            acked = sqlite_rows(db, "SELECT value FROM key_value WHERE key = ?",
                                "sync.acked_upto")
            left = sqlite_rows(db, "SELECT COUNT(*) FROM outbox WHERE seq > ?",
                               int(acked[0][0]) if acked else 0)[0][0]
            return left == 0

        wait_until(done, timeout=600, interval=0.1, message="convergence")
        elapsed = time.perf_counter() - t0
        return {"db": kind, "records": count, "seconds": round(elapsed, 2)}
    finally:
        for proc in (agent, central):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        broker.stop()
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--records", type=int, default=400, help="records per station")
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="worker processes (default: 1 on SQLite, 1 and 2 on PostgreSQL)")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--no-rollup-triggers", action="store_true",
                        help="diagnosis: ingest without central's execution rollup triggers")
    parser.add_argument("--skip-convergence", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        template = template_record(work)
        print(f"record: 1 execution, {len(template['steps'])} steps, "
              f"{len(template['logs'])} log lines, "
              f"{len(encode('execution', template))} bytes of msgpack")
        if not args.skip_ingest:
            for kind in kinds:
                for workers in args.workers or ([1] if kind == "sqlite" else [1, 2]):
                    run_dir = Path(tempfile.mkdtemp(dir=work))
                    print("ingest", ingest(kind, workers, args.stations, args.records,
                                           run_dir, template, not args.no_rollup_triggers),
                          flush=True)
        if not args.skip_convergence:
            for kind in kinds:
                run_dir = Path(tempfile.mkdtemp(dir=work))
                print("convergence", convergence(kind, args.backlog, run_dir, template),
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
