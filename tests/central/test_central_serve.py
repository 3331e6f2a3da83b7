"""`firefly-central serve` as a real process: the OpenAPI document and a login round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.central.central_support import definition
from tests.support import free_port, wait_until

CLI = [str(Path(sys.executable).with_name("firefly-central"))]  # the console script


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FIREFLY_DATABASE_URL": f"sqlite:///{tmp_path / 'central.db'}",
           "FIREFLY_LISTEN": f"127.0.0.1:{port}", "FIREFLY_MQTT": "none"}
    created = subprocess.run([*CLI, "admin", "create", "root", "--role", "admin"], env=env,
                             input="a long password\n", capture_output=True, text=True,
                             timeout=60)
    assert created.returncode == 0, created.stderr
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([*CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/api/openapi.json", timeout=2).ok
        except requests.ConnectionError:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            return False

    try:
        wait_until(up, timeout=30, interval=0.1, message="central to listen")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
    assert "a long password" not in (tmp_path / "serve.log").read_text()


def test_serve_answers_openapi_and_a_login_round_trip(served: str) -> None:
    doc = requests.get(f"{served}/api/openapi.json", timeout=5).json()
    assert "/api/processes" in doc["paths"]
    browser = requests.Session()
    assert browser.get(f"{served}/api/auth/me", timeout=5).status_code == 401
    login = browser.post(f"{served}/api/auth/login", json={"username": "root",
                                                           "password": "a long password"},
                         timeout=10)
    assert login.status_code == 200, login.text
    assert "httponly" in login.headers["Set-Cookie"].lower()
    csrf = browser.get(f"{served}/api/auth/me", timeout=5).json()["csrf_token"]
    assert csrf == login.json()["csrf_token"]
    created = browser.post(f"{served}/api/processes", json=definition(), timeout=10,
                           headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    assert browser.get(f"{served}/api/processes", timeout=5).json()["total"] == 1
    assert browser.post(f"{served}/api/auth/logout", headers={"X-CSRF-Token": csrf},
                        timeout=5).status_code == 200
    assert browser.get(f"{served}/api/processes", timeout=5).status_code == 401
