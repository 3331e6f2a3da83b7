"""Fixtures of the admin page's tests: a real central on a free port, headless Chromium.

``central_server`` runs ``firefly-central serve`` as a subprocess on a temporary SQLite
database, after ``firefly-central admin create`` made an admin and a viewer (passwords on
standard input). ``browser`` drives Debian's /usr/bin/chromium through Playwright (never a
downloaded browser). Every page records its JavaScript errors, failed requests and any request
to another host; a test ends with ``assert_clean(page)`` (tests/web/web_support.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, unavailable, wait_until
from tests.web.web_support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
USERS = {"admin": "admin", "viewer": "viewer", "operator": "operator"}  # name -> role
BIN = Path(sys.executable).parent


@dataclass
class CentralServer:
    url: str
    database_url: str
    log: Path


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> None:
    subprocess.run([str(BIN / "firefly-central"), *args], input=stdin, text=True, env=env,
                   check=True, capture_output=True, timeout=60)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def central_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    folder = tmp_path_factory.mktemp("central")
    port = free_port()
    env = {**os.environ, "FIREFLY_DATABASE_URL": f"sqlite:///{folder / 'central.db'}",
           "FIREFLY_LISTEN": f"127.0.0.1:{port}", "FIREFLY_MQTT": "none"}
    for name, role in USERS.items():
        _cli("admin", "create", name, "--role", role, env=env, stdin=PASSWORD + "\n")
    log = folder / "central.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "firefly-central"), "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url + "/") or proc.poll() is not None, timeout=60,
                   message="central to answer")
        if proc.poll() is not None:
            raise AssertionError(f"central exited: {log.read_text()[-2000:]}")
        yield CentralServer(url, env["FIREFLY_DATABASE_URL"], log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable(f"{CHROMIUM} is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, central_server: CentralServer) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context (its own cookies); closed after the test."""
    contexts: list[Any] = []

    def open_page(width: int = 1360, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      base_url=central_server.url, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(f"JS error: {error}"))
        page.on("console", lambda msg: page.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Failed to load resource" not in msg.text else None)
        page.on("requestfailed", lambda req: page.errors.append(
            f"request failed: {req.url} {req.failure}") if "/api/events/stream" not in req.url
            else None)
        page.on("request", lambda req: page.errors.append(f"off-site request: {req.url}")
                if not req.url.startswith((central_server.url, "blob:", "data:")) else None)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def web_central(tmp_path: Path) -> Iterator[Any]:
    """Central in-process (WebTest) on a temporary SQLite file: for the page's API routes."""
    from central.app import make_app
    from central.context import CentralContext
    from tests.central.central_support import Central, TestApp, settings_for

    ctx = CentralContext(settings=settings_for(f"sqlite:///{tmp_path / 'central.db'}"))
    yield Central(app=TestApp(make_app(ctx.settings, ctx)), ctx=ctx)
    if ctx.db is not None:
        ctx.db.close()
