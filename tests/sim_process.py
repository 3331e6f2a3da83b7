"""firefly-sim as a real subprocess, for the tests that drive it (tests/sim, tests/radio).

``start_sim`` runs ``python -m firefly_sim`` with one radio port per station, waits until its
control API answers, and returns a ``SimProcess``: a small client of that API. ``stop_sim``
stops it by its process id (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import REPO, free_port, wait_until


@dataclass
class SimProcess:
    proc: subprocess.Popen[bytes]
    ports: list[int]  # the station radios' TCP ports
    control: int  # the control API's port
    log_path: Path

    def request(self, method: str, path: str, body: Any = None,
                raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.control}{path}", data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read())

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, body
        return body

    def post(self, path: str, body: Any = None) -> Any:
        status, data = self.request("POST", path, body if body is not None else {})
        assert status == 200, data
        return data

    def transmissions(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.get(f"/transmissions?since={since}")["transmissions"])

    def radio(self, port: int) -> dict[str, Any]:
        return next(r for r in self.get("/radios")["radios"] if r["port"] == port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_sim(tmp: Path, radios: int, scenario: Path | str | None = None,
              extra: list[str] | None = None, cls: type[SimProcess] = SimProcess) -> Any:
    """Start the simulator with ``radios`` station radios; an instance of ``cls``."""
    ports = [free_port() for _ in range(radios)]
    control = free_port()
    args = [sys.executable, "-m", "firefly_sim", "--control", f"127.0.0.1:{control}"]
    for port in ports:
        args += ["--radio-port", str(port)]
    if scenario is not None:
        args += ["--scenario", str(scenario)]
    args += extra or []
    log_path = tmp / f"sim-{control}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    sim = cls(proc, ports, control, log_path)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"firefly-sim exited with {proc.returncode}:\n{sim.log()}")
        try:
            return sim.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_until(healthy, 15.0, message="firefly-sim to start")
    except BaseException:
        stop_sim(sim)
        raise
    return sim


def stop_sim(sim: SimProcess) -> None:
    if sim.proc.poll() is None:
        os.kill(sim.proc.pid, signal.SIGTERM)
        try:
            sim.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(sim.proc.pid, signal.SIGKILL)
            sim.proc.wait(5)
