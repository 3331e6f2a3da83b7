"""What a role may not do is not offered (and the API refuses it anyway); logging out."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.web_support import api, assert_clean, definition, login, screenshot

pytestmark = pytest.mark.browser


def test_a_viewer_sees_processes_but_no_way_to_change_or_run_them(new_page: Any) -> None:
    admin = new_page()
    login(admin, "admin")
    status, created = api(admin, "POST", "/api/processes", definition("Viewer check"))
    assert status == 201, created
    process_id = created["process_id"]

    viewer = new_page()
    login(viewer, "viewer")
    row = viewer.locator('#process-table tr[data-name="Viewer check"]')
    expect(row).to_be_visible()
    expect(row.locator("[data-action]")).to_have_count(0)  # no execute, edit, deactivate
    expect(viewer.locator("#new-process")).to_have_count(0)
    expect(viewer.locator("#nav")).to_contain_text("Monitor")
    screenshot(viewer, "processes-list-viewer", full_page=False)

    viewer.goto(f"/#/builder/{process_id}")
    expect(viewer.get_by_text("read-only")).to_be_visible()
    expect(viewer.locator('[data-path="name"] input')).to_be_disabled()
    expect(viewer.locator(".palette")).to_have_count(0)
    expect(viewer.locator("#save-process")).to_have_count(0)
    expect(viewer.locator("#tryrun")).to_have_count(0)

    viewer.goto("/#/templates")
    expect(viewer.locator("h1")).to_have_text("Templates")
    expect(viewer.locator("#template-from-process")).to_have_count(0)
    expect(viewer.locator("#template-import")).to_have_count(0)

    status, _ = api(viewer, "POST", f"/api/processes/{process_id}/execute", {"trigger_data": {}})
    assert status == 403
    status, _ = api(viewer, "DELETE", f"/api/processes/{process_id}")
    assert status == 403

    viewer.click("#logout")
    expect(viewer.locator("#login-username")).to_be_visible()
    status, _ = viewer.evaluate("""async () => {
        const r = await fetch('/api/processes'); return [r.status, null]; }""")
    assert status == 401
    assert_clean(admin)
    assert_clean(viewer)


def test_an_operator_may_run_but_not_edit(new_page: Any) -> None:
    admin = new_page()
    login(admin, "admin")
    status, _ = api(admin, "POST", "/api/processes", definition("Operator check"))
    assert status == 201
    operator = new_page()
    login(operator, "operator")
    row = operator.locator('#process-table tr[data-name="Operator check"]')
    expect(row.locator('[data-action="execute"]')).to_be_visible()
    expect(row.locator('[data-action="edit"]')).to_have_count(0)
    expect(row.locator('[data-action="deactivate"]')).to_have_count(0)
    row.locator('[data-action="execute"]').click()
    expect(operator.locator(".toast")).to_contain_text("started")
    assert_clean(operator)


def test_a_wrong_password_is_refused_at_the_form(new_page: Any) -> None:
    page = new_page()
    page.goto("/")
    page.fill("#login-username", "admin")
    page.fill("#login-password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("Wrong user name or password.")
    expect(page.locator("#nav")).to_be_hidden()
