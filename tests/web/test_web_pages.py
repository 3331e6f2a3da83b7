"""The pages around the processes: stations, alerts, zones, users and groups, bots; and the
page on a phone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from peewee import SqliteDatabase
from playwright.sync_api import expect

from agent.core.models import utcnow
from central.sync.models import SyncStation
from tests.web.web_support import api, assert_clean, definition, login, screenshot

pytestmark = pytest.mark.browser


def add_stations(database_url: str) -> None:
    """Two stations as the sync records them (one heard now, one silent for a day)."""
    db = SqliteDatabase(database_url.removeprefix("sqlite:///"), pragmas={"busy_timeout": 5000})
    now = utcnow()
    with db.bind_ctx([SyncStation]), db.connection_context():
        SyncStation.create(station_id="north-hut", online=True, last_seen=now, last_sync=now,
                           outbox_depth=3, airtime_used="12500",
                           radio={"url": "tcp://radio:4403", "connected": True,
                                  "airtime_used_ms": 12500, "airtime_budget_ms": 36000},
                           heartbeat={"engine": {"processes_loaded": 2, "queue_depth": 0}})
        SyncStation.create(station_id="south-col", online=False,
                           last_seen=now - dt.timedelta(days=1),
                           last_sync=now - dt.timedelta(days=1), outbox_depth=120,
                           radio={"url": "serial:///dev/ttyUSB0", "connected": False,
                                  "last_error": "no such device"})


def test_stations_show_state_sync_radio_airtime_and_processes(new_page: Any,
                                                               central_server: Any) -> None:
    add_stations(central_server.database_url)
    page = new_page()
    login(page, "admin")
    status, _ = api(page, "POST", "/api/processes",
                    definition("North only", stations=["north-hut"]))
    assert status == 201
    page.goto("/#/stations")
    north = page.locator('[data-station-id="north-hut"]')
    expect(north.locator(".badge").first).to_have_text("Online")
    expect(north).to_contain_text("3 records waiting")
    expect(north).to_contain_text("connected")
    expect(north).to_contain_text("35 %")  # 12.5 s of a 36 s budget
    expect(north).to_contain_text("North only")
    south = page.locator('[data-station-id="south-col"]')
    expect(south.locator(".badge").first).to_have_text("Offline")
    expect(south).to_contain_text("disconnected")
    expect(south).to_contain_text("no such device")
    expect(south).not_to_contain_text("North only")
    screenshot(page, "stations")
    assert_clean(page)


def module_api(page: Any, path: str) -> None:
    status, _ = api(page, "GET", path)
    assert status != 404, f"{path} is missing from central"


def test_alerts_are_acknowledged_and_resolved(new_page: Any) -> None:
    page = new_page()
    login(page, "admin")
    module_api(page, "/api/alerts")
    status, created = api(page, "POST", "/api/processes", definition("Raise an alert"))
    assert status == 201
    status, _ = api(page, "POST", f"/api/processes/{created['process_id']}/execute",
                    {"trigger_data": {}})
    assert status == 201
    page.goto("/#/alerts")
    row = page.locator("#alert-table tr", has_text="Raise an alert alert")
    expect(row).to_contain_text("open")
    screenshot(page, "alerts")
    row.locator('[data-action="acknowledge"]').click()
    expect(page.locator(".toast", has_text="acknowledged")).to_be_visible()
    page.select_option("#alert-status", "acknowledged")
    row = page.locator("#alert-table tr", has_text="Raise an alert alert")
    expect(row).to_contain_text("ack: admin")
    row.locator('[data-action="resolve"]').click()
    expect(page.locator(".toast", has_text="resolved")).to_be_visible()
    page.select_option("#alert-status", "resolved")
    expect(page.locator("#alert-table tr", has_text="Raise an alert alert")).to_contain_text(
        "resolved")
    assert_clean(page)


def test_a_zone_is_drawn_on_the_offline_map_and_saved(new_page: Any) -> None:
    page = new_page()
    login(page, "admin")
    module_api(page, "/api/zones")
    status, _ = api(page, "POST", "/api/zones", {
        "name": "Avalanche slope", "shape": "polygon",
        "polygon": [[46.501, 7.899], [46.501, 7.902], [46.499, 7.902], [46.499, 7.899]]})
    assert status in (200, 201)
    page.goto("/#/zones")
    expect(page.locator('[data-zone-name="Avalanche slope"]')).to_be_visible()
    page.click("#draw-circle")
    box = page.locator("svg.map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3 + 40, box["y"] + box["height"] * 0.5, steps=4)
    page.mouse.up()
    page.fill("#zone-name", "Helipad")
    page.click("#zone-save")
    expect(page.locator('#zone-list [data-zone-key]', has_text="Helipad")).to_be_visible()
    expect(page.locator('[data-zone-name="Helipad"] circle.zone')).to_be_visible()
    screenshot(page, "zones")
    status, zones = api(page, "GET", "/api/zones")
    helipad = [z for z in (zones.get("zones", zones) if isinstance(zones, dict) else zones)
               if z["name"] == "Helipad"]
    assert helipad and helipad[0]["shape"] == "circle" and helipad[0]["radius_m"] > 0
    assert_clean(page)


def test_users_groups_and_bots_pages(new_page: Any) -> None:
    page = new_page()
    login(page, "admin")
    module_api(page, "/api/groups")
    module_api(page, "/api/bots")
    page.goto("/#/users")
    page.click('[data-action="new-groups"]')
    page.locator("dialog input").first.fill("Medics")
    page.click('dialog button[type="submit"]')
    expect(page.locator('tr[data-name="Medics"]')).to_be_visible()
    page.click('[data-action="new-users"]')
    page.locator("dialog input").first.fill("Anna")
    page.locator("dialog input").nth(1).fill("!a1b2c3d4")
    page.locator("dialog label", has_text="Medics").click()
    page.click('dialog button[type="submit"]')
    expect(page.locator('tr[data-name="Anna"]')).to_contain_text("Medics")
    screenshot(page, "users")
    page.goto("/#/bots")
    page.click('[data-action="new-bots"]')
    page.locator("dialog input").first.fill("Weather")
    page.click("dialog >> text=+ Rule")
    page.locator('dialog [data-path="rules[0].pattern"] :is(input, textarea)').fill("!wx")
    page.locator('dialog [data-path="rules[0].reply"] :is(input, textarea)').fill("Sunny")
    page.click('dialog button[type="submit"]')
    expect(page.locator('tr[data-name="Weather"]')).to_contain_text("!wx")
    screenshot(page, "bots")
    assert_clean(page)


def test_the_page_fits_a_phone(new_page: Any) -> None:
    page = new_page(width=390, height=844)
    login(page, "admin")
    api(page, "POST", "/api/processes", definition("On the phone"))
    page.goto("/#/processes")
    expect(page.locator("#process-table")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    page.click("#nav-toggle")
    expect(page.locator("#nav")).to_be_visible()
    screenshot(page, "phone-menu", full_page=False)
    page.click("#nav >> text=Processes")
    expect(page.locator("#nav")).to_be_hidden()
    for name in ("processes", "monitor", "builder/new", "templates"):
        page.goto(f"/#/{name}")
        page.wait_for_selector("main .page-head")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page is {overflow} px wider than the phone"
        screenshot(page, f"phone-{name.replace('/', '-')}")
    assert_clean(page)
