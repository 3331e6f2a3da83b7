"""The process builder beyond the main path: the JSON view round-trips with the visual one,
nested AND/OR conditions, keyboard building, "test this process" before saving."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.web_support import api, assert_clean, definition, login, screenshot

pytestmark = pytest.mark.browser

NESTED = {"any": [
    {"field": "event.text", "op": "contains", "value": "sos", "case_sensitive": False},
    {"not": {"all": [{"field": "event.channel", "op": "gt", "value": 2},
                     {"op": "time_window", "after": "22:00", "before": "06:00"}]}},
]}


def test_json_view_round_trips_with_the_visual_builder(new_page: Any) -> None:
    page = new_page()
    login(page, "admin")
    body = definition("Round trip")
    body["actions"][1]["conditions"] = NESTED
    status, created = api(page, "POST", "/api/processes", body)
    assert status == 201, created
    page.goto(f"/#/builder/{created['process_id']}")
    group = page.locator('[data-path="actions[1].conditions"] .cond-group .cond-group')
    expect(group).to_have_count(1)  # the nested NOT group, drawn as a group
    expect(group.locator("input[type=checkbox]").first).to_be_checked()
    screenshot(page, "builder-conditions", full_page=False)

    page.click("#tab-json")
    shown = json.loads(page.input_value("#json-editor"))
    assert shown["actions"][1]["conditions"] == NESTED
    assert shown["name"] == "Round trip"
    page.click("#tab-visual")
    page.click("#tab-json")
    assert json.loads(page.input_value("#json-editor")) == shown  # visual -> JSON unchanged
    screenshot(page, "builder-json", full_page=False)

    shown["name"] = "Round trip, edited as JSON"
    shown["actions"].append({"action_type": "log", "action_config": {"message": "third"}})
    page.fill("#json-editor", json.dumps(shown))
    page.click("#tab-visual")
    expect(page.locator('[data-path="name"] input')).to_have_value("Round trip, edited as JSON")
    expect(page.locator('.dropzone[data-kind="action"] > .item')).to_have_count(3)
    page.click("#tab-json")
    page.fill("#json-editor", "{not json")
    page.click("#tab-visual")
    expect(page.locator("#json-pane .field-error")).to_contain_text("Not valid JSON")
    assert_clean(page)


def test_a_process_built_by_keyboard_and_tested_before_saving(new_page: Any) -> None:
    page = new_page(height=1600)
    login(page, "admin")
    page.goto("/#/builder/new")
    page.fill('[data-path="name"] input', "Keyboard built")
    for selector in ('.palette-item[data-type="message_received"]',
                     '.palette-item[data-type="log"]', '.palette-item[data-type="send_message"]'):
        page.focus(selector)
        page.keyboard.press("Enter")
    types = '.dropzone[data-kind="action"] > .item'
    expect(page.locator(types)).to_have_count(2)
    page.focus('button[aria-label="Move action 2 up"]')
    page.keyboard.press("Enter")
    assert page.eval_on_selector_all(types, "els => els.map(e => e.dataset.type)") \
        == ["send_message", "log"]

    page.select_option("#tryrun-type", "message_received")
    page.fill("#tryrun-data", json.dumps({"text": "sos", "from_id": "!a1b2c3d4",
                                          "from_name": "Anna", "channel": 0}))
    page.click("#tryrun-run")
    output = page.locator(".tryrun-output")
    expect(output.locator('li[data-step="1"][data-status="completed"]')).to_contain_text(
        "not run: dry run")
    expect(output.locator('li[data-step="1"]')).to_contain_text("would send over the radio")
    expect(output.locator('li[data-step="2"][data-status="completed"]')).to_be_visible()
    expect(output).to_contain_text("would start")
    page.locator("#tryrun").scroll_into_view_if_needed()
    screenshot(page, "builder-try-run", full_page=False)
    status, listing = api(page, "GET", "/api/processes?limit=500")
    assert status == 200
    assert "Keyboard built" not in [p["name"] for p in listing["processes"]]  # not saved
    assert_clean(page)
