"""Radio benchmark: airtime per text for each modem preset, and the agent with a radio.

1. Time on air of one text of 3, 50, 100, 200 and 232 UTF-8 bytes for every modem preset (the
   LoRa formula of agent/radio/airtime.py), and how many 100-byte texts fit in an hour at a
   10 % and a 1 % duty cycle.
2. The agent as a real process (``python -m agent run``) connected to firefly-sim over TCP:
   start-up time until the radio is connected, resident memory (RSS) connected and idle, and
   after handling N triggering texts (each one an execution that queues a reply: ``handled_s``
   is the time from the first text posted to the last execution recorded). The same
   agent with ``radio.url = none`` is measured for comparison.

    .venv/bin/python bench/bench_radio.py [--texts 200] [--skip-agent]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.radio.airtime import MODEM_PRESETS, packet_airtime_ms  # noqa: E402
from tests.support import free_port, wait_until  # noqa: E402

SIZES = (3, 50, 100, 200, 232)
SCENARIO = """
name = "bench"
position_interval = 0
telemetry_interval = 0

[mesh]
region = "EU_868"
modem_preset = "SHORT_FAST"

[[nodes]]
id = "!a1b2c3d4"
name = "Anna Hiker"
short_name = "ANNA"
lat = 46.59
lon = 7.9
"""
PROCESS = {
    "name": "Bench reply",
    "mode": "parallel", "max": 1000,
    "triggers": [{"trigger_type": "message_received", "trigger_config": {"contains": "bench"}}],
    "actions": [{"action_type": "send_message",
                 "action_config": {"to": "{{ event.from_id }}", "text": "ok {{ event.text }}"}}],
}


def airtime_table() -> str:
    lines = ["| preset | " + " | ".join(f"{n} B" for n in SIZES) + " | 100 B texts/h @10 % "
             "| @1 % |", "|---|" + "---:|" * (len(SIZES) + 2)]
    for name, preset in MODEM_PRESETS.items():
        if preset.deprecated:
            continue
        times = [packet_airtime_ms(n, name) for n in SIZES]
        per_hour = [int(p / 100 * 3_600_000 // packet_airtime_ms(100, name)) for p in (10, 1)]
        lines.append(f"| {name} | " + " | ".join(f"{t:.0f}" for t in times)
                     + f" | {per_hour[0]} | {per_hour[1]} |")
    return "\n".join(lines)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def http(control: int, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{control}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def run_agent(tmp: Path, radio_url: str, log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / log_name
    env = {**os.environ, "FIREFLY_RADIO": radio_url, "FIREFLY_DB": str(tmp / "station.db"),
           "FIREFLY_MQTT": "none", "FIREFLY_STATION_ID": "bench", "FIREFLY_LOG_LEVEL": "info"}
    config = tmp / "agent.toml"
    config.write_text('[radio]\nmodem_preset = "SHORT_FAST"\nsend_interval_seconds = 2.1\n'
                      '[engine]\nrate_limit_per_minute = 100000\n')
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "run"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def bench_agent(texts: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="firefly-bench-radio-"))
    (tmp / "scenario.toml").write_text(SCENARIO)
    (tmp / "process.json").write_text(json.dumps(PROCESS))
    subprocess.run([sys.executable, "-m", "agent", "process", "import", str(tmp / "process.json")],
                   cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, "FIREFLY_DB": str(tmp / "station.db")})
    radio_port, control = free_port(), free_port()
    sim = subprocess.Popen([sys.executable, "-m", "firefly_sim", "--radio-port", str(radio_port),
                            "--control", f"127.0.0.1:{control}", "--scenario",
                            str(tmp / "scenario.toml"), "--log-level", "WARNING"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        wait_until(lambda: _healthy(control), 20, message="firefly-sim")
        none_proc, none_log = run_agent(tmp, "none", "agent-none.log")
        try:
            wait_until(lambda: b"running" in none_log.read_bytes(), 60, message="agent (none)")
            time.sleep(1.0)
            out["rss_no_radio_mb"] = rss_mb(none_proc.pid)
        finally:
            stop(none_proc)
        t0 = time.monotonic()
        proc, log = run_agent(tmp, f"tcp://127.0.0.1:{radio_port}", "agent-radio.log")
        try:
            wait_until(lambda: b"connected as" in log.read_bytes(), 60, interval=0.005,
                       message="the agent's radio to connect")
            out["startup_to_connected_s"] = time.monotonic() - t0
            time.sleep(2.0)
            out["rss_connected_mb"] = rss_mb(proc.pid)
            t1 = time.monotonic()
            for i in range(texts):
                http(control, "POST", "/nodes/%21a1b2c3d4/text", {"text": f"bench {i}"})
            out["texts"] = texts
            out["post_s"] = time.monotonic() - t1
            wait_until(lambda: _executions(tmp / "station.db") >= texts, 120, interval=0.05,
                       message="every text handled")
            out["handled_s"] = time.monotonic() - t1
            wait_until(lambda: _transmitted(control, radio_port) >= 3, 60, message="replies")
            out["rss_after_texts_mb"] = rss_mb(proc.pid)
        finally:
            stop(proc)
    finally:
        stop(sim)
    return out


def _healthy(control: int) -> bool:
    try:
        return bool(http(control, "GET", "/healthz"))
    except OSError:
        return False


def _executions(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM process_executions").fetchone()[0])


def _transmitted(control: int, port: int) -> int:
    items = http(control, "GET", "/transmissions?since=0")["transmissions"]
    return sum(1 for t in items if t["port"] == port and t["transmitted"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--skip-agent", action="store_true")
    args = parser.parse_args()
    print("Time on air of one text, ms (LoRa formula, Meshtastic overhead):\n")
    print(airtime_table())
    if args.skip_agent:
        return
    print("\nAgent with a radio connected to firefly-sim (TCP):\n")
    for key, value in bench_agent(args.texts).items():
        print(f"  {key:<24} {value:.2f}")


if __name__ == "__main__":
    main()
