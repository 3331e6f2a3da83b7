"""Engine benchmark: event-to-completion latency and sustained executions per second.

Each execution is durable in SQLite (WAL, synchronous=FULL). Runs with 10 and with 10,000
loaded processes; each process has a keyed trigger (so matching is an index lookup) and three
quick actions (log, create_alert, log). Prints the cost of one durable SQLite commit measured in
the same run as the reference.

    .venv/bin/python bench/bench_engine.py [--events 500] [--processes 10 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.core.db import open_and_migrate
from agent.core.models import KeyValue, database
from agent.engine.events import Event
from agent.processes import save_process
from tests.support import make_engine

ACTIONS = [
    {"action_type": "log", "action_config": {"message": "from {{ event.who }}"}},
    {"action_type": "create_alert", "action_config": {"title": "bench {{ event.n }}"}},
    {"action_type": "log", "action_config": {"message": "alert {{ steps.2.result.alert_id }}"}},
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def commit_cost_ms(samples: int = 200) -> float:
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        with database.atomic():
            KeyValue.replace(key="bench", value=i).execute()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench(n_processes: int, events: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="firefly-bench-")
    open_and_migrate(f"{tmp}/station.db")
    uids = []
    with database.atomic():
        for i in range(n_processes):
            p = save_process({"name": f"p{i}", "mode": "parallel", "max": 100,
                              "triggers": [{"trigger_type": "manual"}], "actions": ACTIONS})
            uids.append(p.uid)
    commit_ms = commit_cost_ms()
    engine = make_engine(rate_limit_per_minute=10**9, max_concurrent_executions=1000,
                         alert_on_failure=False)
    done = threading.Semaphore(0)
    finished_at: dict[int, float] = {}
    engine.on_finished.append(lambda run: (finished_at.__setitem__(id(run.event), time.perf_counter()),
                                           done.release()))
    t_load = time.perf_counter()
    engine.start()
    load_s = time.perf_counter() - t_load

    def event(n: int) -> Event:
        return Event(type="manual", data={"who": "bench", "n": n},
                     keys=frozenset({uids[n % len(uids)]}), source="bench")

    latencies = []
    for n in range(min(events, 300)):  # one at a time: latency
        e = event(n)
        t0 = time.perf_counter()
        engine.submit(e)
        done.acquire()
        latencies.append((finished_at[id(e)] - t0) * 1000)
    t0 = time.perf_counter()  # back to back: throughput
    for n in range(events):
        engine.submit(event(n))
    for _ in range(events):
        done.acquire()
    rate = events / (time.perf_counter() - t0)
    engine.stop()
    database.close()
    return {"processes": n_processes, "load_s": load_s, "commit_ms": commit_ms,
            "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
            "per_s": rate, "commits_per_execution_ms": commit_ms * 3}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--processes", type=int, nargs="+", default=[10, 10_000])
    args = parser.parse_args()
    print(f"{'processes':>9} {'load s':>7} {'commit ms':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'exec/s':>7}  (3 durable commits = {'':>1}...)")
    for n in args.processes:
        r = bench(n, args.events)
        print(f"{r['processes']:>9} {r['load_s']:>7.2f} {r['commit_ms']:>9.2f} {r['p50_ms']:>7.2f} "
              f"{r['p99_ms']:>7.2f} {r['per_s']:>7.0f}  (3 x commit = "
              f"{r['commits_per_execution_ms']:.2f} ms)")


if __name__ == "__main__":
    main()
