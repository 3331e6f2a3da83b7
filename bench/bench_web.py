"""Admin page benchmark: the process list with 1,000 processes, the monitor at 100 executions/s.

Starts central (``firefly-central serve``) on a temporary SQLite database holding N processes,
drives headless Chromium (/usr/bin/chromium, through Playwright) and measures in the page:

- the process list: time from navigation to the full list shown; time for a search keystroke
  and a change of sort to be painted;
- the monitor: while a writer inserts executions at R per second straight into the database
  (as the sync's ingest does) and completes each 0.3 s later, the gaps between animation
  frames (responsiveness) and how far behind the list is at the end.

    .venv/bin/python bench/bench_web.py [--processes 1000] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.core.models import ProcessExecution, database, utcnow
from agent.processes import save_process
from central.db import open_central_database
from tests.support import free_port, wait_until
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "bench password"
BIN = Path(sys.executable).parent

FRAME_PROBE = """() => {
  window.__gaps = [];
  let last = performance.now();
  const tick = (t) => { window.__gaps.push(t - last); last = t; window.__raf = requestAnimationFrame(tick); };
  window.__raf = requestAnimationFrame(tick);
}"""


def seed(db_url: str, n: int) -> list[int]:
    db = open_central_database(db_url)
    ids = []
    with db.atomic():
        for i in range(n):
            p = save_process({"name": f"Process {i:04d}", "stations": ["central"],
                              "triggers": [{"trigger_type": "manual"}],
                              "actions": [{"action_type": "log",
                                           "action_config": {"message": "n {{ event.n }}"}}]})
            ids.append(p.id)
    db.close()
    return ids


def writer(process_ids: list[int], rate: int, seconds: float, stop: threading.Event) -> int:
    """Insert ``rate`` executions per second, each completed 0.3 s later (like the ingest)."""
    written = 0
    pending: list[tuple[float, int]] = []
    start = time.monotonic()
    with database.connection_context():
        while time.monotonic() - start < seconds and not stop.is_set():
            tick = time.monotonic()
            with database.atomic():
                for _ in range(max(1, rate // 10)):
                    now = utcnow()
                    row = ProcessExecution.create(
                        process_id=process_ids[written % len(process_ids)], status="running",
                        started_at=now, updated_at=now, station_id="bench", total_steps=1,
                        trigger_type="manual")
                    pending.append((tick + 0.3, row.id))
                    written += 1
                due = [i for t, i in pending if t <= tick]
                pending = [(t, i) for t, i in pending if t > tick]
                if due:
                    ProcessExecution.update(status="completed", completed_at=utcnow(),
                                            updated_at=utcnow(), execution_time_ms=300,
                                            steps_completed=1).where(
                        ProcessExecution.id.in_(due)).execute()
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        time.sleep(0.3)
        ProcessExecution.update(status="completed", completed_at=utcnow(), updated_at=utcnow(),
                                execution_time_ms=300, steps_completed=1).where(
            ProcessExecution.id.in_([i for _t, i in pending])).execute()
    return written


def gaps_summary(gaps: list[float]) -> str:
    gaps = sorted(gaps[1:]) or [0.0]
    p95 = gaps[int(0.95 * (len(gaps) - 1))]
    long = sum(1 for g in gaps if g > 50)
    return (f"frames {len(gaps)}, median {statistics.median(gaps):.1f} ms, p95 {p95:.1f} ms, "
            f"max {gaps[-1]:.1f} ms, frames over 50 ms: {long}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="firefly-bench-web-"))
    db_url = f"sqlite:///{folder / 'central.db'}"
    process_ids = seed(db_url, args.processes)
    port = free_port()
    env = {**os.environ, "FIREFLY_DATABASE_URL": db_url, "FIREFLY_LISTEN": f"127.0.0.1:{port}",
           "FIREFLY_MQTT": "none"}
    subprocess.run([str(BIN / "firefly-central"), "admin", "create", "bench", "--role", "admin"],
                   input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    log = (folder / "central.log").open("w")
    server = subprocess.Popen([str(BIN / "firefly-central"), "serve"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url + "/", timeout=1):
                return True
        except OSError:
            return False

    try:
        wait_until(up, timeout=60, message="central")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900}, base_url=url,
                                    bypass_csp=True)  # wait_for_function evaluates strings
            page.goto("/")
            page.fill("#login-username", "bench")
            page.fill("#login-password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#logout")
            report_list(page, args.processes)
            report_monitor(page, process_ids, args.rate, args.seconds, db_url)
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        log.close()
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}; Chromium {CHROMIUM}")


def painted(page: Any, action: str, condition: str) -> float:
    """Milliseconds from ``action`` (JS) to ``condition`` (JS) being true after a frame."""
    return float(page.evaluate(f"""async () => {{
        const t0 = performance.now();
        {action};
        while (!({condition})) await new Promise(r => requestAnimationFrame(r));
        await new Promise(r => requestAnimationFrame(r));
        return performance.now() - t0;
    }}"""))


def report_list(page: Any, n: int) -> None:
    t0 = time.perf_counter()
    page.goto("/#/processes")
    page.wait_for_function(f"document.querySelector('.page-head .muted')?.textContent"
                           f" === '{n} of {n} processes'", timeout=60000)
    load_ms = (time.perf_counter() - t0) * 1000
    search = painted(page, """const el = document.getElementById('filter-text');
        el.value = 'Process 09'; el.dispatchEvent(new Event('input'))""",
                     "document.querySelector('.page-head .muted').textContent.startsWith('100 of')")
    sort = painted(page, """const el = document.getElementById('sort-by');
        el.value = 'success_rate'; el.dispatchEvent(new Event('change'))""", "true")
    print(f"process list, {n} processes: shown in {load_ms:.0f} ms (fetch and first paint); "
          f"search keystroke painted in {search:.1f} ms; sort change painted in {sort:.1f} ms")


def report_monitor(page: Any, process_ids: list[int], rate: int, seconds: float,
                   db_url: str) -> None:
    page.goto("/#/monitor")
    page.wait_for_selector("#execution-table")
    page.evaluate(FRAME_PROBE)
    open_central_database(db_url, run_migrations=False)
    stop = threading.Event()
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.update(
        written=writer(process_ids, rate, seconds, stop)))
    thread.start()
    thread.join()
    time.sleep(2.0)  # the stream's last polls
    gaps = page.evaluate("(() => { cancelAnimationFrame(window.__raf); return window.__gaps; })()")
    shown = page.evaluate("document.querySelector('#exec-title ~ .muted')?.textContent || ''")
    completed = page.evaluate(
        "document.querySelectorAll('#execution-table tr[data-status=completed]').length")
    print(f"monitor, {result['written']} executions written at {rate}/s for {seconds:g} s: "
          f"{gaps_summary(gaps)}; list says '{shown}', {completed} of the first page's rows completed")


if __name__ == "__main__":
    main()
