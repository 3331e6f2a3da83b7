"""The admin's main path, in a real browser against a real central.

Build a process in the visual builder (drag a trigger and two actions, set a condition), see
a bad value refused at its field, save, find it in the list, run it from a second tab while
the monitor watches (the execution appears and completes without a reload), inspect its
steps and log, then make a template from it and a new process from the template.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.web_support import api, assert_clean, login, screenshot

pytestmark = pytest.mark.browser

NAME = "Evacuation drill"


def control(path: str) -> str:
    """The input, text area or select of a field, by its data path."""
    return f':is(input, textarea, select)[data-path="{path}"]'


def drag(page: Any, kind: str, type_name: str) -> None:
    page.drag_and_drop(f'.palette-item[data-kind="{kind}"][data-type="{type_name}"]',
                       f'.dropzone[data-kind="{kind}"] .drop-end')


def build_process(page: Any) -> None:
    page.click("#new-process")
    page.wait_for_selector('.palette-item[data-type="manual"]')
    page.fill('[data-path="name"] input', NAME)
    page.fill('[data-path="stations"] input', "central")
    drag(page, "trigger", "manual")
    drag(page, "action", "log")
    drag(page, "action", "create_alert")
    types = page.eval_on_selector_all('.dropzone[data-kind="action"] > .item',
                                      "items => items.map(i => i.dataset.type)")
    assert types == ["log", "create_alert"]
    expect(page.locator('.dropzone[data-kind="trigger"] > .item')).to_have_count(1)
    page.fill(control("actions[0].action_config.message"),
              "Drill started by {{ event.triggered_by }}")
    # a condition on the alert: only when an admin runs it
    page.click('details[data-key="actions[1]:conditions"] > summary')
    page.click('[data-path="actions[1].conditions"] [data-add="condition"]')
    page.fill('input[data-path="actions[1].conditions.all[0].field"]', "event.triggered_by")
    page.select_option('select[data-path="actions[1].conditions.all[0].op"]', "eq")
    page.fill('input[data-path="actions[1].conditions.all[0].value"]', "admin")


def test_build_save_run_watch_and_template(new_page: Any) -> None:
    page = new_page(height=1700)  # the whole builder on screen: drags need no scrolling
    login(page, "admin")
    screenshot(page, "processes-list-empty")
    build_process(page)

    # a bad value: the alert's title emptied -> the API's error shows at that field
    page.fill(control("actions[1].action_config.title"), "")
    page.click("#save-process")
    error = page.locator('.field-error[data-error-path="actions[1].action_config.title"]')
    expect(error).to_be_visible()
    expect(error).to_have_text(re.compile("required"))
    field = page.locator(control("actions[1].action_config.title"))
    expect(field).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("#/builder/new")
    screenshot(page, "builder-validation-error")

    page.fill(control("actions[1].action_config.title"), "Drill: {{ event.triggered_by }}")
    expect(error).to_have_count(0)  # live validation cleared it
    screenshot(page, "builder-visual")
    page.click("#save-process")
    page.wait_for_url(re.compile(r"#/processes$"))
    row = page.locator(f'#process-table tr[data-name="{NAME}"]')
    expect(row).to_be_visible()
    expect(row.locator(".badge")).to_have_text("Active")
    screenshot(page, "processes-list")

    # the monitor watches while a second tab runs the process
    page.goto("/#/monitor")
    page.wait_for_selector("#execution-table")
    page.evaluate("window.__sameDocument = true")
    other = page.context.new_page()
    other.goto("/#/processes")
    other.locator(f'#process-table tr[data-name="{NAME}"] [data-action="execute"]').click()
    expect(other.locator(".toast")).to_contain_text("started")
    done = page.locator('#execution-table tr[data-status="completed"]', has_text=NAME)
    expect(done).to_have_count(1, timeout=20000)
    assert page.evaluate("window.__sameDocument") is True, "the monitor page was reloaded"
    other.close()

    done.click()
    detail = page.locator("#execution-detail")
    expect(detail.locator('li[data-step="1"][data-status="completed"]')).to_be_visible()
    expect(detail.locator('li[data-step="2"][data-status="completed"]')).to_be_visible()
    expect(detail.locator("svg.timeline rect")).not_to_have_count(0)
    expect(page.locator("#execution-log")).to_contain_text("Drill started by admin")
    page.fill("#log-search", "completed")
    expect(page.locator("#execution-log mark").first).to_have_text("completed")
    expect(page.locator("#execution-log")).not_to_contain_text("Drill started by admin")
    screenshot(page, "monitor")

    # a template from the process, then a new process from the template
    page.goto("/#/templates")
    page.click("#template-from-process")
    page.select_option('dialog select[name="process_id"]', label=NAME)
    page.fill('dialog input[name="name"]', "Drill template")
    page.select_option('dialog select[name="category"]', "emergency")
    page.click('dialog button[type="submit"]')
    card = page.locator('.tpl[data-name="Drill template"]')
    expect(card).to_contain_text("used 0 times")
    screenshot(page, "templates")
    card.locator('[data-action="use"]').click()
    page.fill('dialog input[name="name"]', "Drill from template")
    page.click('dialog button[type="submit"]')
    page.wait_for_url(re.compile(r"#/builder/\d+$"))
    expect(page.locator('[data-path="name"] input')).to_have_value("Drill from template")
    status, listing = api(page, "GET", "/api/processes/templates", None)
    assert status == 200
    assert [t["usage_count"] for t in listing["templates"] if t["name"] == "Drill template"] == [1]
    assert_clean(page)
