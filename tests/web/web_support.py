"""Helpers of the admin page's browser tests: log in, screenshots, no errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import REPO

SCREENSHOTS = REPO / "screenshots"  # ignored by git: for people to look at
PASSWORD = "correct horse battery"


def login(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#logout")


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    if full_page:  # sticky header and palette where a user sees them
        page.evaluate("window.scrollTo(0, 0)")
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def assert_clean(page: Any) -> None:
    """No JavaScript error, no failed request, nothing fetched from another host."""
    assert page.errors == [], "\n".join(page.errors)


def api(page: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call the API from the page (its session cookie and CSRF token): (status, JSON)."""
    result: tuple[int, Any] = tuple(page.evaluate(
        """async ([method, path, body]) => {
            const me = await (await fetch('/api/auth/me')).json();
            const init = {method, headers: {'Content-Type': 'application/json',
                                             'X-CSRF-Token': me.csrf_token}};
            if (body !== null) init.body = JSON.stringify(body);
            const response = await fetch(path, init);
            const text = await response.text();
            return [response.status, text ? JSON.parse(text) : null];
        }""", [method, path, body]))
    return result


def definition(name: str, **extra: Any) -> dict[str, Any]:
    """A process that central's own engine runs: a manual trigger, two local actions."""
    return {
        "name": name, "stations": ["central"],
        "triggers": [{"trigger_type": "manual", "trigger_config": {}}],
        "actions": [
            {"action_type": "log", "action_config": {"message": "run by {{ event.triggered_by }}"}},
            {"action_type": "create_alert", "action_config": {"title": f"{name} alert",
                                                              "severity": "info"}},
        ],
        **extra,
    }
